// File-system calls Swift's Glibc module does not import (they need _GNU_SOURCE).
#ifndef QKV_FILES_H
#define QKV_FILES_H

/// Starts writing bytes [offset, offset + length) of `fd`'s dirty pages to the disk and returns without
/// waiting (sync_file_range with SYNC_FILE_RANGE_WRITE): a hint that lets the device write while the
/// caller goes on; it makes nothing durable (fsync does). Returns 0, or -1 with errno set.
int qkv_start_writeback(int fd, long long offset, long long length);

#endif
