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
#include "utils/timestamp.h"

#include "deepseek_r1.h"

#define ENGINE_FD 3
#define ENGINE_READ_MAX ((size_t) 4 << 20)	/* bytes read per wake-up at most */


/* The model file a role serves ("" when not set). */
const char *
dr1_role_model(DR1Role role)
{
	const char *path = role == DR1_ROLE_EMBED ? dr1_embedding_model : dr1_model;

	return path ? path : "";
}

/* The settings an engine process is started with; a change means restart.
 * The embedding model's engine takes only the model, program and threads. */
void
dr1_engine_settings(DR1Role role, char *buf, Size size)
{
	if (role == DR1_ROLE_EMBED)
		snprintf(buf, size, "%s|%s|%d", dr1_role_model(role),
				 dr1_engine_program ? dr1_engine_program : "", dr1_threads);
	else
		snprintf(buf, size, "%s|%s|%s|%d|%d|%d|%d|%d|%d", dr1_role_model(role),
				 dr1_engine_program ? dr1_engine_program : "", dr1_option_name(dr1_device_options, dr1_device),
				 dr1_threads, dr1_context_length, dr1_kv_cache_memory, dr1_max_batch,
				 dr1_prefix_sharing, dr1_kv_cache_type);
}

/* deepseek_r1.engine_program, by default the program installed beside postgres */
static void
engine_program(char *path)
{
	if (dr1_engine_program && dr1_engine_program[0])
	{
		strlcpy(path, dr1_engine_program, MAXPGPATH);
		return;
	}
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
dr1_engine_start(DR1Engine *e, DR1Role role, char *err, Size errsize)
{
	char		program[MAXPGPATH];
	char		threads[16],
				ctx[16],
				kv[32],
				batch[16],
				fd[16],
				protocol[16];
	char	   *argv[32];
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
	argv[n++] = (char *) dr1_role_model(role);
	argv[n++] = "-t";
	argv[n++] = threads;
	if (role == DR1_ROLE_EMBED)
	{
		argv[n++] = "--role";
		argv[n++] = "embed";
	}
	else
	{
		argv[n++] = "--device";
		argv[n++] = (char *) dr1_option_name(dr1_device_options, dr1_device);
		argv[n++] = "-c";
		argv[n++] = ctx;
		argv[n++] = "--kv-bytes";
		argv[n++] = kv;
		argv[n++] = "--max-batch";
		argv[n++] = batch;
		argv[n++] = "--prefix-sharing";
		argv[n++] = dr1_prefix_sharing ? "on" : "off";
		argv[n++] = "--kv-type";
		argv[n++] = (char *) dr1_option_name(dr1_kv_cache_type_options, dr1_kv_cache_type);
	}
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
	e->heard_at = GetCurrentTimestamp();
	dr1_engine_settings(role, e->settings, sizeof e->settings);
	elog(LOG, "deepseek_r1: started engine process %d for model \"%s\"", (int) pid,
		 dr1_role_model(role));
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
	dr1_in_free(&e->in);
	dr1_outq_free(&e->out);
}

/*
 * Queue one frame for the engine; dr1_engine_flush writes it.  The caller
 * keeps payloads within DR1_FRAME_MAX.  Nothing is queued while no engine
 * runs (the caller fails what it meant to send).
 */
bool
dr1_engine_send(DR1Engine *e, uint32 type, uint64 id, const void *payload, Size len)
{
	Assert(len <= DR1_FRAME_MAX);
	if (e->pid <= 0)
		return false;
	if (dr1_outq_frame(&e->out, type, id, payload, len) != DR1_OUT_OK)
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("out of memory"),
				 errdetail("Failed to queue a frame of %zu bytes for the deepseek_r1 engine process.", len)));
	return true;
}

/* Write what the socket takes now; false when the engine is gone. */
bool
dr1_engine_flush(DR1Engine *e)
{
	return e->pid <= 0 || dr1_outq_write(&e->out, e->fd) == 0;
}

/*
 * Read what the socket holds (a bounded amount, so the worker's other work
 * goes on while a large answer streams in): 1 if something came, 0 if
 * nothing, -1 at end of file (the engine process is gone).
 */
int
dr1_engine_read(DR1Engine *e)
{
	int			r = dr1_in_read(&e->in, e->fd, ENGINE_READ_MAX);

	if (r < 0 && errno == ENOMEM)
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("out of memory"),
				 errdetail("Failed to buffer a frame from the deepseek_r1 engine process.")));
	if (r > 0)
		e->heard_at = GetCurrentTimestamp();
	return r > 0 ? 1 : r;
}

/* The next frame received; its payload stays valid until the next read. */
enum dr1_in_result
dr1_engine_next_frame(DR1Engine *e, struct dr1_frame *h, const char **payload)
{
	return dr1_in_next(&e->in, h, payload);
}
