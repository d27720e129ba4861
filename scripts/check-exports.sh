#!/bin/sh
# check-exports.sh LIB - fail if LIB exports anything beyond the interposed
# symbols and the public API (everything else is -fvisibility=hidden).
set -eu
lib=$1
allowed='^(malloc|free|calloc|realloc|reallocarray|memalign|posix_memalign|aligned_alloc|valloc|pvalloc|malloc_usable_size|cfree|free_sized|free_aligned_sized|mallocx|rallocx|xallocx|sdallocx|dallocx|_Znwm.*|_Znam.*|_ZdlPv.*|_ZdaPv.*|pthread_(create|setname_np|mutex_(lock|trylock|timedlock|clocklock|unlock)|rwlock_(rdlock|timedrdlock|clockrdlock|wrlock|timedwrlock|clockwrlock|unlock)|cond_(wait|timedwait|clockwait)|join|timedjoin_np|clockjoin_np|barrier_wait|spin_lock|sigmask)|sem_(wait|timedwait|clockwait)|exec(ve|v|vp|vpe|l|lp|le)|fexecve|sigaction|signal|sigprocmask|sigwait|sigwaitinfo|sigtimedwait|dl_iterate_phdr|dlclose|syscall|sleep|usleep|nanosleep|clock_nanosleep|pause|sigsuspend|poll|ppoll|select|pselect|epoll_(wait|pwait|pwait2)|read|readv|recv|recvfrom|recvmsg|accept|accept4|wait|waitpid|wait4|waitid|msgrcv|__(read|recv|recvfrom|poll|ppoll)_chk|cprof_.*)$'
# readelf runs without any preload (a build may run with LD_PRELOAD
# exported), and its failure fails the check instead of passing as
# "nothing exported".  Exported = defined, global or weak, and of default
# or protected visibility (the linker lists its hidden __start_/__stop_
# section symbols too, which no other object can bind to).
syms=$(env -u LD_PRELOAD readelf -W --dyn-syms "$lib") || {
	echo "check-exports: readelf --dyn-syms $lib failed" >&2
	exit 1
}
bad=$(printf '%s\n' "$syms" |
	awk '$5 ~ /^(GLOBAL|WEAK|UNIQUE)$/ && $6 ~ /^(DEFAULT|PROTECTED)$/ && $7 != "UND" && NF >= 8 {print $8}' |
	sed 's/@.*//' | grep -Ev "$allowed" || true)
if [ -n "$bad" ]; then
	echo "check-exports: $lib exports symbols outside the allowed set:" >&2
	echo "$bad" >&2
	exit 1
fi
