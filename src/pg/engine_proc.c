/*
 * engine_proc.c — starting, talking to and stopping the engine process.
 *
 * The engine process is the deepseek-r1 program installed next to the
 * postgres binary, run as `deepseek-r1 serve` with one end of a socketpair
 * as its fd 3.  It is the worker's direct child, in a process group of its
 * own (the postmaster signals whole process groups: a reload must not
 * reach it), and it is killed by the kernel when the worker dies
 * (PR_SET_PDEATHSIG), so it never outlives the worker.
 */
#include "postgres.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "miscadmin.h"
#include "port.h"
#include "utils/memutils.h"

#include "deepseek_r1.h"

#define ENGINE_FD 3

static const char *const device_names[] = {"auto", "cpu", "cuda"};

/* The settings an engine process is started with; a change means restart. */
void
dr1_engine_settings(char *buf, Size size)
{
	snprintf(buf, size, "%s|%s|%d|%d|%d|%d|%d", dr1_model ? dr1_model : "",
			 device_names[dr1_device], dr1_threads, dr1_context_length,
			 dr1_kv_cache_memory, dr1_max_batch, dr1_prefix_sharing);
}

static void
engine_program(char *path)
{
	strlcpy(path, my_exec_path, MAXPGPATH);
	get_parent_directory(path);
	join_path_components(path, path, "deepseek-r1");
}

/* In the child, between fork and exec: only async-signal-safe calls. */
static void
exec_child(int parent, int sock, const char *program, char **argv)
{
	sigset_t	none;
	long		max_fd = sysconf(_SC_OPEN_MAX);

	if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid() != parent)
		_exit(1);
	setpgid(0, 0);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	if (sock != ENGINE_FD)
	{
		if (dup2(sock, ENGINE_FD) < 0)
			_exit(1);
	}
	else
		fcntl(ENGINE_FD, F_SETFD, 0);
	for (long fd = ENGINE_FD + 1; fd < (max_fd > 0 && max_fd < 65536 ? max_fd : 65536); fd++)
		close((int) fd);
	execv(program, argv);
	_exit(127);
}

bool
dr1_engine_start(DR1Engine *e, char *err, Size errsize)
{
	char		program[MAXPGPATH];
	char		threads[16],
				ctx[16],
				kv[32],
				batch[16],
				fd[16],
				protocol[16];
	char	   *argv[24];
	int			n = 0;
	int			sv[2];
	pid_t		pid;
	int			parent = getpid();

	engine_program(program);
	if (access(program, X_OK) != 0)
	{
		snprintf(err, errsize, "cannot run the engine program \"%s\": %s", program, strerror(errno));
		return false;
	}
	snprintf(threads, sizeof threads, "%d", dr1_threads);
	snprintf(ctx, sizeof ctx, "%d", dr1_context_length);
	snprintf(kv, sizeof kv, "%lld", (long long) dr1_kv_cache_memory * 1024);
	snprintf(batch, sizeof batch, "%d", dr1_max_batch);
	snprintf(fd, sizeof fd, "%d", ENGINE_FD);
	snprintf(protocol, sizeof protocol, "%d", DR1_PROTOCOL_VERSION);
	argv[n++] = "deepseek-r1";
	argv[n++] = "serve";
	argv[n++] = "--fd";
	argv[n++] = fd;
	argv[n++] = "--protocol";
	argv[n++] = protocol;
	argv[n++] = "-m";
	argv[n++] = dr1_model;
	argv[n++] = "--device";
	argv[n++] = (char *) device_names[dr1_device];
	argv[n++] = "-t";
	argv[n++] = threads;
	argv[n++] = "-c";
	argv[n++] = ctx;
	argv[n++] = "--kv-bytes";
	argv[n++] = kv;
	argv[n++] = "--max-batch";
	argv[n++] = batch;
	argv[n++] = "--prefix-sharing";
	argv[n++] = dr1_prefix_sharing ? "on" : "off";
	argv[n] = NULL;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0)
	{
		snprintf(err, errsize, "socketpair failed: %s", strerror(errno));
		return false;
	}
	fflush(NULL);
	pid = fork();
	if (pid == 0)
		exec_child(parent, sv[1], program, argv);
	close(sv[1]);
	if (pid < 0)
	{
		close(sv[0]);
		snprintf(err, errsize, "fork failed: %s", strerror(errno));
		return false;
	}
	fcntl(sv[0], F_SETFL, O_NONBLOCK);
	e->pid = pid;
	e->fd = sv[0];
	e->ready = false;
	e->in_off = e->in_len = 0;
	dr1_engine_settings(e->settings, sizeof e->settings);
	elog(LOG, "deepseek_r1: started engine process %d for model \"%s\"", (int) pid, dr1_model);
	return true;
}

/* Kill and reap the engine process; why receives how it ended. */
void
dr1_engine_stop(DR1Engine *e, char *why, Size whysize)
{
	int			status = 0;

	if (e->pid <= 0)
	{
		snprintf(why, whysize, "not running");
		return;
	}
	kill(e->pid, SIGKILL);
	while (waitpid(e->pid, &status, 0) < 0 && errno == EINTR)
		;
	if (WIFSIGNALED(status) && WTERMSIG(status) != SIGKILL)
		snprintf(why, whysize, "was terminated by signal %d (%s)", WTERMSIG(status),
				 strsignal(WTERMSIG(status)));
	else if (WIFSIGNALED(status))
		snprintf(why, whysize, "was killed (signal %d)", WTERMSIG(status));
	else
		snprintf(why, whysize, "exited with code %d", WEXITSTATUS(status));
	close(e->fd);
	e->fd = -1;
	e->pid = 0;
	e->ready = false;
	e->in_off = e->in_len = 0;
}

/* Write one frame, waiting for room if the socket is full. */
bool
dr1_engine_send(DR1Engine *e, uint32 type, uint64 id, const void *payload, Size len)
{
	struct dr1_frame h = {(uint32) len, type, id};
	const char *parts[2] = {(const char *) &h, payload};
	Size		sizes[2] = {sizeof h, len};

	if (e->pid <= 0)
		return false;
	for (int i = 0; i < 2; i++)
	{
		Size		done = 0;

		while (done < sizes[i])
		{
			ssize_t		w = send(e->fd, parts[i] + done, sizes[i] - done, MSG_NOSIGNAL);

			if (w >= 0)
				done += (Size) w;
			else if (errno == EAGAIN)
			{
				struct pollfd p = {e->fd, POLLOUT, 0};

				(void) poll(&p, 1, 1000);
			}
			else if (errno != EINTR)
				return false;
		}
	}
	return true;
}

/* Read what the socket holds: 1 if something came, 0 if nothing, -1 at
 * end of file (the engine process is gone). */
int
dr1_engine_read(DR1Engine *e)
{
	int			got = 0;

	for (;;)
	{
		ssize_t		r;

		if (e->in_cap - e->in_len < 65536)
		{
			e->in_cap = e->in_cap * 2 + 65536;
			e->in = e->in ? repalloc(e->in, e->in_cap)
				: MemoryContextAlloc(TopMemoryContext, e->in_cap);
		}
		r = recv(e->fd, e->in + e->in_len, e->in_cap - e->in_len, MSG_DONTWAIT);
		if (r > 0)
		{
			e->in_len += (Size) r;
			got = 1;
		}
		else if (r < 0 && errno == EINTR)
			continue;
		else if (r < 0 && errno == EAGAIN)
			return got;
		else
			return -1;
	}
}

/* The next complete frame, if any; its payload stays valid until the next
 * dr1_engine_read. */
bool
dr1_engine_next_frame(DR1Engine *e, struct dr1_frame *h, const char **payload)
{
	if (e->in_len - e->in_off >= sizeof *h)
	{
		memcpy(h, e->in + e->in_off, sizeof *h);
		if (e->in_len - e->in_off - sizeof *h >= h->len)
		{
			*payload = e->in + e->in_off + sizeof *h;
			e->in_off += sizeof *h + h->len;
			return true;
		}
	}
	memmove(e->in, e->in + e->in_off, e->in_len - e->in_off);
	e->in_len -= e->in_off;
	e->in_off = 0;
	return false;
}
