#include <pcap/pcap.h>
#include <poll.h>
#include <linux/filter.h>
#include <stdio.h>

/* Bytes stdio holds unread for `file` (glibc's FILE): none means the next read of a pipe may
   block until its writer writes. */
static inline size_t synprint_unread(FILE *file) {
    return (size_t)(file->_IO_read_end - file->_IO_read_ptr);
}
