# The agent's seccomp filter (src/agent/harden.c, in the internal ccgate library) is built with
# libseccomp rather than hand-assembled BPF.
pkg_check_modules(SECCOMP REQUIRED IMPORTED_TARGET libseccomp)
target_link_libraries(ccgate PUBLIC PkgConfig::SECCOMP)
