/* For the Wine smoke test only (packaging/wine-smoke.sh), never shipped: Rust's standard
 * library asks Windows 10+ for random bytes through bcryptprimitives.dll!ProcessPrng, which
 * Debian's Wine 8.0 does not have. This stand-in answers from RtlGenRandom (advapi32). */
#include <windows.h>

BOOLEAN WINAPI SystemFunction036(PVOID buffer, ULONG length);

__declspec(dllexport) BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T length) {
    while (length > 0) {
        ULONG n = length > 0x10000000 ? 0x10000000 : (ULONG)length;
        if (!SystemFunction036(data, n)) return FALSE;
        data += n;
        length -= n;
    }
    return TRUE;
}
