#![no_std]
// Library target: lets `anchor-user` name this crate as a build-dependency (see aya-build), and
// holds what the program object (`src/bin/client_node/`) needs besides its code.

/// The panic handler and the license section of a program object: invoke once at the top level
/// of each binary.
#[macro_export]
macro_rules! program_object {
    () => {
        #[cfg(not(test))]
        #[panic_handler]
        fn panic(_info: &core::panic::PanicInfo) -> ! {
            loop {}
        }

        #[unsafe(link_section = "license")]
        #[unsafe(no_mangle)]
        static LICENSE: [u8; 13] = *b"Dual MIT/GPL\0";
    };
}
