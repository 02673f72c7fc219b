/*
 * Slow-disk shim for the fault suite. The harness LD_PRELOADs it into every `hiqlite serve`
 * process: while the file named by HIQLITE_SLOW_DISK_CONTROL exists and holds a number of
 * milliseconds, every fsync and fdatasync (RocksDB's log, SQLite's WAL, snapshot files) waits
 * that long before syncing, like a disk whose flushes have become slow. Each delayed call
 * appends one byte to "<control>.hits", so a test can tell the fault really bit.
 *
 * Built by the harness with the system C compiler (tests/src/slow_disk.rs).
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

static long delay_ms(const char *control) {
    int fd = open(control, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    char buf[32];
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return 0;
    buf[n] = '\0';
    return strtol(buf, NULL, 10);
}

static void record_hit(const char *control) {
    char path[4096];
    if (snprintf(path, sizeof path, "%s.hits", control) >= (int)sizeof path)
        return;
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0)
        return;
    ssize_t ignored = write(fd, "x", 1);
    (void)ignored;
    close(fd);
}

/* Called before every sync; keeps errno as the caller left it. */
static void maybe_wait(void) {
    int saved = errno;
    const char *control = getenv("HIQLITE_SLOW_DISK_CONTROL");
    long ms = control ? delay_ms(control) : 0;
    if (ms > 0) {
        record_hit(control);
        struct timespec left = {ms / 1000, (ms % 1000) * 1000000L};
        while (nanosleep(&left, &left) == -1 && errno == EINTR) {
        }
    }
    errno = saved;
}

typedef int (*sync_fn)(int);

int fsync(int fd) {
    static sync_fn real;
    if (!real)
        real = (sync_fn)dlsym(RTLD_NEXT, "fsync");
    maybe_wait();
    return real(fd);
}

int fdatasync(int fd) {
    static sync_fn real;
    if (!real)
        real = (sync_fn)dlsym(RTLD_NEXT, "fdatasync");
    maybe_wait();
    return real(fd);
}
