/*
 * reply.h - `cprof dump --wait`: the dump request that asks for an answer.
 *
 * DESIGN
 * A plain trigger signal (kill -USR2) asks for a dump and nothing else.
 * cprof-ctl (the cprof command's C half) instead sends the trigger signal
 * with sigqueue(), si_value holding a request word: a magic number, the
 * signal it wants the answer on (a real-time signal) and a random token.
 * The library's handler only records (si_pid, request word) in a fixed
 * array of slots, lock-free (dump.c).  The writer thread picks the
 * requests up before it starts the next dump, and when that set is
 * written it answers each requester with pidfd_send_signal(), si_value
 * holding the set's number, the kinds written and the token.  So the
 * answer names a set that was started after the request arrived, and the
 * command prints exactly its files instead of guessing when writing ends.
 *
 * Whom the library may signal.  si_pid of a queued signal is written by
 * the sender (rt_sigqueueinfo does not check it), so it proves nothing;
 * a requester proves who it is by its command line: the library signals
 * a pid only when that process's /proc/PID/cmdline holds the argument
 * REPLY_ARG_PREFIX "SIG:TOKEN" exactly as the request word says, and it
 * holds a pidfd opened BEFORE reading it.  Every later check and the
 * answer go through that pidfd: if the process ends (and its pid is
 * reused) at any moment after pidfd_open, pidfd_send_signal fails with
 * ESRCH instead of reaching another process; if it had ended before,
 * the command line read is another process's and does not hold the
 * token (a process that copies someone's token can only ask for answers
 * to itself).  Without pidfds (Linux before 5.3) no answer is sent.
 */
#ifndef CPROF_REPLY_H
#define CPROF_REPLY_H

#include <stdint.h>

/* Request word (sigqueue's si_value.sival_ptr, 64 bits):
 *   63..48 REPLY_MAGIC, 47..40 answer signal, 31..0 token. */
#define REPLY_MAGIC 0xC9D5u
#define REPLY_REQUEST(sig, token) \
	(((uint64_t)REPLY_MAGIC << 48) | ((uint64_t)(uint8_t)(sig) << 40) | (uint64_t)(uint32_t)(token))
#define REPLY_IS_REQUEST(w) (((w) >> 48) == REPLY_MAGIC && (((w) >> 32) & 0xff) == 0)
#define REPLY_REQ_SIG(w) ((int)(((w) >> 40) & 0xff))
#define REPLY_REQ_TOKEN(w) ((uint32_t)(w))

/* Answer word: 63..56 the kinds written (enum cprof_profile bits), 55..32
 * the token's low 24 bits, 31..0 the set's number (%n; 0: no set was
 * made, the process is exiting).  A set with no kind written: none is
 * enabled, or every write failed (the process's stderr says why). */
#define REPLY_ANSWER(kinds, token, n) \
	(((uint64_t)(uint8_t)(kinds) << 56) | ((uint64_t)((token) & 0xffffffu) << 32) | (uint64_t)(uint32_t)(n))
#define REPLY_ANS_KINDS(w) ((unsigned)((w) >> 56))
#define REPLY_ANS_TOKEN(w) ((uint32_t)(((w) >> 32) & 0xffffffu))
#define REPLY_ANS_N(w) ((unsigned long)(uint32_t)(w))

/* The requester's argument: REPLY_ARG_PREFIX "<signal>:<token as 8 hex
 * digits>", within the first 4 KiB of its command line. */
#define REPLY_ARG_PREFIX "--cprof-reply="

#endif
