//! The console of a Windows GUI program.
//!
//! A release build on Windows uses the GUI subsystem, so double-clicking it opens no console
//! window beside the app. The subcommands (`parity`, `animate`, `--version`, …) must still
//! print to the console they were typed into: they attach to the parent's console, which is
//! the documented way (`AttachConsole(ATTACH_PARENT_PROCESS)`); where there is none (started
//! from Explorer or a desktop entry) nothing happens. Output redirected to a file or a pipe
//! already has its handles and is left alone. Elsewhere this does nothing.

use std::path::Path;

/// Attaches to the parent's console when the command line asks for more than opening files.
pub fn attach_parent() {
    let wants_console = std::env::args_os().skip(1).any(|a| !Path::new(&a).exists());
    if wants_console {
        attach();
    }
}

#[cfg(windows)]
#[allow(unsafe_code)] // two Win32 calls without preconditions; no crate wraps just these
fn attach() {
    use windows_sys::Win32::System::Console::{ATTACH_PARENT_PROCESS, AttachConsole, GetStdHandle, STD_OUTPUT_HANDLE};
    // SAFETY: GetStdHandle and AttachConsole take plain integers and only read process state.
    unsafe {
        if GetStdHandle(STD_OUTPUT_HANDLE).is_null() {
            AttachConsole(ATTACH_PARENT_PROCESS);
        }
    }
}

#[cfg(not(windows))]
fn attach() {}
