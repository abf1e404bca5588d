#include <pcap/pcap.h>
#include <poll.h>
#include <linux/filter.h>
