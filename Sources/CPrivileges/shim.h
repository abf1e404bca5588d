// System calls Swift cannot import directly (variadic in C).
#include <sys/prctl.h>

/// prctl(PR_SET_NO_NEW_PRIVS, 1): nothing this process executes can gain privileges.
static inline int synprint_set_no_new_privileges(void) {
    return prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
}

/// prctl(PR_SET_NAME): names the calling thread (at most 15 bytes are kept).
static inline int synprint_set_thread_name(const char *name) {
    return prctl(PR_SET_NAME, name, 0, 0, 0);
}
