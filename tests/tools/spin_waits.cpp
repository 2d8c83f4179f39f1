// LD_PRELOAD shim for tests: every FUTEX_WAIT made through syscall(2)'s libc wrapper returns at
// once with EAGAIN, as if the word had changed. shmjob's waiting ranks (shm::FutexEvent) then
// poll instead of sleeping in the kernel: a deliberately spinning build of the real binary, so
// the idle-CPU test can show that it catches ranks that spin. Other system calls pass through.
#include <dlfcn.h>
#include <linux/futex.h>
#include <sys/syscall.h>

#include <atomic>
#include <cerrno>
#include <cstdarg>

namespace {
using SyscallFn = long (*)(long, ...);
std::atomic<SyscallFn> real_syscall{nullptr};
}  // namespace

extern "C" long syscall(long number, ...) {
  va_list ap;
  va_start(ap, number);
  long a[6];
  for (long& v : a) v = va_arg(ap, long);
  va_end(ap);
  if (number == SYS_futex && (a[1] & FUTEX_CMD_MASK) == FUTEX_WAIT) {
    errno = EAGAIN;
    return -1;
  }
  SyscallFn real = real_syscall.load();
  if (real == nullptr) {
    real = reinterpret_cast<SyscallFn>(dlsym(RTLD_NEXT, "syscall"));
    real_syscall.store(real);
  }
  return real(number, a[0], a[1], a[2], a[3], a[4], a[5]);
}
