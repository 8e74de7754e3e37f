; DynamiCrafter Studio installer (NSIS 3, built on Linux by packaging/build.sh windows).
; Defines passed by build.sh: VERSION, APP_ID, SRC (the folder with the .exe and the
; notices), ICON, OUT. Installs per machine into Program Files with a Start-menu entry,
; an uninstaller registered in Apps & features, and "Open with" for images.
; Silent: setup.exe /S  [/D=C:\path]  ;  uninstall: uninstall.exe /S

; A 64-bit installer where this NSIS has the amd64 stubs (Debian's has; build.sh passes
; AMD64 then): it runs where 32-bit programs cannot (Wine without WoW64). Otherwise the
; classic 32-bit one, which installs the same 64-bit program.
!ifdef AMD64
Target amd64-unicode
!else
Unicode true
!endif
SetCompressor /SOLID lzma
RequestExecutionLevel admin

!define NAME "DynamiCrafter Studio"
!define EXE "dynamicrafter-studio.exe"
!define UNINST_KEY "Software\Microsoft\Windows\CurrentVersion\Uninstall\${APP_ID}"

Name "${NAME} ${VERSION}"
OutFile "${OUT}"
InstallDir "$PROGRAMFILES64\${NAME}"
InstallDirRegKey HKLM "${UNINST_KEY}" "InstallLocation"
Icon "${ICON}"
UninstallIcon "${ICON}"

!include "MUI2.nsh"
!include "x64.nsh"
!define MUI_ICON "${ICON}"
!define MUI_UNICON "${ICON}"
!define MUI_FINISHPAGE_RUN "$INSTDIR\${EXE}"
!define MUI_LICENSEPAGE_TEXT_TOP "DynamiCrafter Studio is Apache-2.0. It contains the third-party software below under its own licences."
!insertmacro MUI_PAGE_WELCOME
!insertmacro MUI_PAGE_LICENSE "${SRC}\THIRD-PARTY-NOTICES.txt"
!insertmacro MUI_PAGE_DIRECTORY
!insertmacro MUI_PAGE_INSTFILES
!insertmacro MUI_PAGE_FINISH
!insertmacro MUI_UNPAGE_CONFIRM
!insertmacro MUI_UNPAGE_INSTFILES
!insertmacro MUI_LANGUAGE "English"

VIProductVersion "${VERSION}.0"
VIAddVersionKey "ProductName" "${NAME}"
VIAddVersionKey "ProductVersion" "${VERSION}"
VIAddVersionKey "FileVersion" "${VERSION}"
VIAddVersionKey "FileDescription" "${NAME} installer"
VIAddVersionKey "LegalCopyright" "Apache-2.0"

Function .onInit
  ${IfNot} ${RunningX64}
    MessageBox MB_ICONSTOP "${NAME} needs 64-bit Windows."
    Abort
  ${EndIf}
  SetRegView 64
FunctionEnd

Function un.onInit
  SetRegView 64
FunctionEnd

Section "Install"
  SetShellVarContext all
  SetOutPath "$INSTDIR"
  File "${SRC}\${EXE}"
  File "${SRC}\THIRD-PARTY-NOTICES.txt"
  File "${SRC}\README.txt"
  File /nonfatal "${SRC}\*.dll"
  WriteUninstaller "$INSTDIR\uninstall.exe"
  CreateShortcut "$SMPROGRAMS\${NAME}.lnk" "$INSTDIR\${EXE}" "" "$INSTDIR\${EXE}" 0
  ; Apps & features
  WriteRegStr HKLM "${UNINST_KEY}" "DisplayName" "${NAME}"
  WriteRegStr HKLM "${UNINST_KEY}" "DisplayVersion" "${VERSION}"
  WriteRegStr HKLM "${UNINST_KEY}" "Publisher" "The DynamiCrafter Studio developers"
  WriteRegStr HKLM "${UNINST_KEY}" "DisplayIcon" "$INSTDIR\${EXE}"
  WriteRegStr HKLM "${UNINST_KEY}" "InstallLocation" "$INSTDIR"
  WriteRegStr HKLM "${UNINST_KEY}" "UninstallString" '"$INSTDIR\uninstall.exe"'
  WriteRegStr HKLM "${UNINST_KEY}" "QuietUninstallString" '"$INSTDIR\uninstall.exe" /S'
  WriteRegDWORD HKLM "${UNINST_KEY}" "NoModify" 1
  WriteRegDWORD HKLM "${UNINST_KEY}" "NoRepair" 1
  ; "Open with" for the images the app reads (never takes over the default program).
  WriteRegStr HKLM "Software\Classes\Applications\${EXE}" "FriendlyAppName" "${NAME}"
  WriteRegStr HKLM "Software\Classes\Applications\${EXE}\shell\open\command" "" '"$INSTDIR\${EXE}" "%1"'
  !macro SUPPORTED ext
    WriteRegStr HKLM "Software\Classes\Applications\${EXE}\SupportedTypes" "${ext}" ""
    WriteRegStr HKLM "Software\Classes\${ext}\OpenWithList\${EXE}" "" ""
  !macroend
  !insertmacro SUPPORTED ".png"
  !insertmacro SUPPORTED ".jpg"
  !insertmacro SUPPORTED ".jpeg"
  !insertmacro SUPPORTED ".webp"
  !insertmacro SUPPORTED ".bmp"
  !insertmacro SUPPORTED ".tif"
  !insertmacro SUPPORTED ".tiff"
  !insertmacro SUPPORTED ".gif"
SectionEnd

Section "Uninstall"
  SetShellVarContext all
  Delete "$SMPROGRAMS\${NAME}.lnk"
  Delete "$INSTDIR\${EXE}"
  Delete "$INSTDIR\THIRD-PARTY-NOTICES.txt"
  Delete "$INSTDIR\README.txt"
  Delete "$INSTDIR\*.dll"
  Delete "$INSTDIR\uninstall.exe"
  RMDir "$INSTDIR"
  DeleteRegKey HKLM "${UNINST_KEY}"
  DeleteRegKey HKLM "Software\Classes\Applications\${EXE}"
  !macro UNSUPPORTED ext
    DeleteRegKey HKLM "Software\Classes\${ext}\OpenWithList\${EXE}"
  !macroend
  !insertmacro UNSUPPORTED ".png"
  !insertmacro UNSUPPORTED ".jpg"
  !insertmacro UNSUPPORTED ".jpeg"
  !insertmacro UNSUPPORTED ".webp"
  !insertmacro UNSUPPORTED ".bmp"
  !insertmacro UNSUPPORTED ".tif"
  !insertmacro UNSUPPORTED ".tiff"
  !insertmacro UNSUPPORTED ".gif"
  ; Models and history in %APPDATA% stay: they are the user's.
SectionEnd
