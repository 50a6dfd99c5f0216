/*
 * protocol.c — the wire format between the worker and the engine process:
 * payload encoders and decoders, and the framing both sides use (an
 * outgoing queue written without blocking, an incoming buffer that hands
 * out whole frames and skips oversized ones).
 *
 * Plain C for both the PostgreSQL module and the deepseek-r1 program: no
 * PostgreSQL or engine header, memory through a dr1_allocator.
 */
#include <errno.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/types.h>

#include "protocol.h"

/*
 * A buffer bigger than this is given back once it is empty again, so one
 * large frame does not keep its memory for the life of the process.
 */
#define BUF_KEEP ((size_t) 1 << 20)
#define READ_CHUNK ((size_t) 64 << 10)

/* ---- buffers ----------------------------------------------------------- */

static void *
buf_realloc(struct dr1_buf *b, void *ptr, size_t size)
{
	return b->alloc ? b->alloc->realloc_fn(ptr, size) : realloc(ptr, size);
}

/* Give the buffer exactly cap bytes (cap >= len); false if that failed. */
static bool
buf_resize(struct dr1_buf *b, size_t cap)
{
	char	   *p = buf_realloc(b, b->data, cap);

	if (!p)
		return false;
	b->data = p;
	b->cap = cap;
	return true;
}

/* Room for n more bytes. */
static bool
buf_reserve(struct dr1_buf *b, size_t n)
{
	size_t		cap = b->cap ? b->cap : 4096;

	if (b->failed)
		return false;
	if (n <= b->cap - b->len)
		return true;
	if (n > SIZE_MAX / 2 - b->len)
		return !(b->failed = true);
	while (cap - b->len < n)
		cap *= 2;
	if (!buf_resize(b, cap))
		b->failed = true;
	return !b->failed;
}

/* An empty buffer that grew large gives its memory back. */
static void
buf_shrink(struct dr1_buf *b)
{
	if (b->cap > BUF_KEEP && b->len <= BUF_KEEP)
		(void) buf_resize(b, BUF_KEEP);	/* on failure it keeps the old block */
}

bool
dr1_buf_put(struct dr1_buf *b, const void *data, size_t len)
{
	if (!buf_reserve(b, len))
		return false;
	if (len)
		memcpy(b->data + b->len, data, len);
	b->len += len;
	return true;
}

bool
dr1_buf_put_str(struct dr1_buf *b, const char *s, size_t len)
{
	uint32_t	n = (uint32_t) len;

	if (len > UINT32_MAX)
		return !(b->failed = true);
	return dr1_buf_put(b, &n, sizeof n) && dr1_buf_put(b, s, len);
}

void
dr1_buf_free(struct dr1_buf *b)
{
	if (b->data)
	{
		if (b->alloc)
			b->alloc->free_fn(b->data);
		else
			free(b->data);
	}
	b->data = NULL;
	b->len = b->cap = 0;
	b->failed = false;
}

/* ---- payloads ---------------------------------------------------------- */

static uint32_t
submit_n_strings(const struct dr1_submit *h)
{
	return 2 * h->n_messages + h->n_stops + h->n_choices + ((h->flags & DR1_FLAG_SCHEMA) != 0);
}

void
dr1_submit_encode(struct dr1_buf *b, const struct dr1_submit *h, const struct dr1_str *strs,
				  const int32_t *ids)
{
	dr1_buf_put(b, h, sizeof *h);
	for (uint32_t i = 0; i < submit_n_strings(h); i++)
		dr1_buf_put_str(b, strs[i].s, strs[i].len);
	dr1_buf_put(b, ids, (size_t) h->n_ids * sizeof(int32_t));
}

void
dr1_done_encode(struct dr1_buf *b, const struct dr1_done *d, const int32_t *ids,
				const float *floats, struct dr1_str text, struct dr1_str content,
				struct dr1_str reasoning)
{
	dr1_buf_put(b, d, sizeof *d);
	dr1_buf_put(b, ids, (size_t) d->n_ids * sizeof(int32_t));
	dr1_buf_put(b, floats, (size_t) d->n_floats * sizeof(float));
	dr1_buf_put_str(b, text.s, text.len);
	dr1_buf_put_str(b, content.s, content.len);
	dr1_buf_put_str(b, reasoning.s, reasoning.len);
}

void
dr1_error_encode(struct dr1_buf *b, uint32_t code, const char *msg, size_t len)
{
	dr1_buf_put(b, &code, sizeof code);
	dr1_buf_put(b, msg, len);
}

/* n 4-byte values (int32 ids, floats) at the cursor (no overflow: n is
 * checked against what is left). */
static bool
get_ids(struct dr1_cursor *c, uint32_t n, const char **ids)
{
	if (!c->ok || (size_t) (c->end - c->p) / sizeof(int32_t) < n)
		return c->ok = false;
	*ids = c->p;
	c->p += (size_t) n * sizeof(int32_t);
	return true;
}

/* A string that must not hold a NUL byte (protocol.h: text has none). */
static bool
get_text(struct dr1_cursor *c, struct dr1_str *s)
{
	if (!dr1_get_str(c, &s->s, &s->len))
		return false;
	if (s->len && memchr(s->s, '\0', s->len))
		return c->ok = false;
	return true;
}

bool
dr1_submit_decode(const void *payload, size_t len, struct dr1_submit_msg *m)
{
	struct dr1_cursor c;
	struct dr1_str s;

	dr1_cursor_init(&c, payload, len);
	if (!dr1_get(&c, &m->h, sizeof m->h))
		return false;
	if (m->h.kind < DR1_REQ_COMPLETE || m->h.kind > DR1_REQ_CHUNK)
		return false;
	/* every string takes at least its 4-byte length: this bounds the counts
	 * before they are added, so the sum cannot wrap */
	if (m->h.n_messages > len / 8 || m->h.n_stops > len / 4 || m->h.n_choices > len / 4 ||
		(uint64_t) 2 * m->h.n_messages + m->h.n_stops + m->h.n_choices +
		((m->h.flags & DR1_FLAG_SCHEMA) != 0) > len / 4)
		return false;
	m->n_strings = submit_n_strings(&m->h);
	m->strings = c;
	for (uint32_t i = 0; i < m->n_strings; i++)
		if (!get_text(&c, &s))
			return false;
	return get_ids(&c, m->h.n_ids, &m->ids) && c.p == c.end;
}

bool
dr1_done_decode(const void *payload, size_t len, struct dr1_done_msg *m)
{
	struct dr1_cursor c;

	dr1_cursor_init(&c, payload, len);
	return dr1_get(&c, &m->d, sizeof m->d) && m->d.finish <= DR1_FINISH_CANCEL &&
		get_ids(&c, m->d.n_ids, &m->ids) && get_ids(&c, m->d.n_floats, &m->floats) &&
		get_text(&c, &m->text) &&
		get_text(&c, &m->content) && get_text(&c, &m->reasoning) && c.p == c.end;
}

bool
dr1_error_decode(const void *payload, size_t len, uint32_t *code, struct dr1_str *msg)
{
	if (len < sizeof *code || len - sizeof *code > UINT32_MAX)
		return false;
	memcpy(code, payload, sizeof *code);
	msg->s = (const char *) payload + sizeof *code;
	msg->len = (uint32_t) (len - sizeof *code);
	return *code >= DR1_ERR_ARGUMENT && *code <= DR1_ERR_ENGINE &&
		(msg->len == 0 || !memchr(msg->s, '\0', msg->len));
}

bool
dr1_stats_decode(const void *payload, size_t len, struct dr1_stats *st)
{
	if (len != sizeof *st)
		return false;
	memcpy(st, payload, sizeof *st);
	return true;
}

bool
dr1_int_decode(const void *payload, size_t len, int32_t *v)
{
	if (len != sizeof *v)
		return false;
	memcpy(v, payload, sizeof *v);
	return true;
}

const char *
dr1_finish_name(uint32_t finish)
{
	switch (finish)
	{
		case DR1_FINISH_LENGTH:
			return "length";
		case DR1_FINISH_CANCEL:
			return "cancel";
		default:
			return "stop";
	}
}

/* ---- the outgoing queue ------------------------------------------------ */

struct dr1_buf *
dr1_outq_begin(struct dr1_outq *q, uint32_t type, uint64_t id)
{
	struct dr1_frame h = {0, type, id};

	q->frame = q->b.len;
	dr1_buf_put(&q->b, &h, sizeof h);
	return &q->b;
}

enum dr1_out_result
dr1_outq_end(struct dr1_outq *q)
{
	size_t		len = q->b.len - q->frame - sizeof(struct dr1_frame);
	enum dr1_out_result rc = DR1_OUT_OK;

	if (q->b.failed)
		rc = DR1_OUT_NO_MEMORY;
	else if (len > DR1_FRAME_MAX)
		rc = DR1_OUT_TOO_LONG;
	if (rc != DR1_OUT_OK)
	{
		/* the frames before it are whole: a failed realloc keeps the block */
		q->b.len = q->frame;
		q->b.failed = false;
		buf_shrink(&q->b);
		return rc;
	}
	/* the frame starts anywhere in the buffer: no struct access */
	memcpy(q->b.data + q->frame + offsetof(struct dr1_frame, len), &(uint32_t) {(uint32_t) len},
		   sizeof(uint32_t));
	return rc;
}

enum dr1_out_result
dr1_outq_frame(struct dr1_outq *q, uint32_t type, uint64_t id, const void *payload, size_t len)
{
	dr1_buf_put(dr1_outq_begin(q, type, id), payload, len);
	return dr1_outq_end(q);
}

/*
 * Write what the socket takes now, never waiting.  0 when all went or the
 * socket is full (the rest stays queued), -1 on an error (errno says which:
 * EPIPE when the peer is gone).
 */
int
dr1_outq_write(struct dr1_outq *q, int fd)
{
	while (q->head < q->b.len)
	{
		ssize_t		w = send(fd, q->b.data + q->head, q->b.len - q->head,
							 MSG_NOSIGNAL | MSG_DONTWAIT);

		if (w > 0)
			q->head += (size_t) w;
		else if (w < 0 && errno == EINTR)
			continue;
		else if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		else
			return -1;
	}
	if (q->head == q->b.len)
	{
		q->head = q->b.len = 0;
		buf_shrink(&q->b);
	}
	else if (q->head >= BUF_KEEP && q->head >= q->b.len / 2)
	{
		/* most of it is written: move the rest down, as cheap as the writes were */
		memmove(q->b.data, q->b.data + q->head, q->b.len - q->head);
		q->b.len -= q->head;
		q->head = 0;
	}
	return 0;
}

void
dr1_outq_free(struct dr1_outq *q)
{
	dr1_buf_free(&q->b);
	q->head = q->frame = 0;
}

/* ---- the incoming buffer ----------------------------------------------- */

/*
 * Room to receive into, at least one byte, NULL when memory ran out.  The
 * frames handed out so far are dropped first (their payloads go stale),
 * and a buffer a large frame made large shrinks back once it is handled.
 */
char *
dr1_in_space(struct dr1_inbuf *in, size_t *avail)
{
	if (in->off)
	{
		memmove(in->b.data, in->b.data + in->off, in->b.len - in->off);
		in->b.len -= in->off;
		in->off = 0;
	}
	/* the buffer doubles as a frame needs it: a peer that announces a large
	 * frame gets memory only as its bytes come */
	if (in->b.len + READ_CHUNK <= BUF_KEEP)
		buf_shrink(&in->b);
	if (!buf_reserve(&in->b, READ_CHUNK))
	{
		in->b.failed = false;
		return NULL;
	}
	*avail = in->b.cap - in->b.len;
	return in->b.data + in->b.len;
}

void
dr1_in_commit(struct dr1_inbuf *in, size_t n)
{
	in->b.len += n;
}

/*
 * Receive what the socket holds, up to about max bytes, never waiting.
 * Returns the bytes read (0: none were there), -1 at end of file or on an
 * error (errno is 0 at end of file, ENOMEM when no buffer could be had).
 */
int
dr1_in_read(struct dr1_inbuf *in, int fd, size_t max)
{
	size_t		got = 0;

	while (got < max)
	{
		size_t		avail;
		char	   *p = dr1_in_space(in, &avail);
		ssize_t		r;

		if (!p)
			return errno = ENOMEM, -1;
		r = recv(fd, p, avail, MSG_DONTWAIT);
		if (r > 0)
		{
			dr1_in_commit(in, (size_t) r);
			got += (size_t) r;
		}
		else if (r < 0 && errno == EINTR)
			continue;
		else if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		else
		{
			if (r == 0)
				errno = 0;
			return -1;
		}
	}
	return got > INT32_MAX ? INT32_MAX : (int) got;
}

enum dr1_in_result
dr1_in_next(struct dr1_inbuf *in, struct dr1_frame *h, const char **payload)
{
	size_t		have = in->b.len - in->off;

	if (in->skip)
	{
		size_t		n = in->skip < have ? (size_t) in->skip : have;

		in->off += n;
		in->skip -= n;
		have -= n;
		if (in->skip)
			return DR1_IN_NONE;
	}
	if (have < sizeof *h)
		return DR1_IN_NONE;
	memcpy(h, in->b.data + in->off, sizeof *h);
	if (h->len > DR1_FRAME_MAX)
	{
		in->off += sizeof *h;
		in->skip = h->len;
		return DR1_IN_TOO_LONG;
	}
	if (have - sizeof *h < h->len)
		return DR1_IN_NONE;
	*payload = in->b.data + in->off + sizeof *h;
	in->off += sizeof *h + h->len;
	return DR1_IN_FRAME;
}

void
dr1_in_free(struct dr1_inbuf *in)
{
	dr1_buf_free(&in->b);
	in->off = 0;
	in->skip = 0;
}
