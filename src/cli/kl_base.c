/*
 * kl_base.c — writing and reading the KL-divergence base file (see
 * kl_base.h).  Fields go through put_u32/get_u32 byte by byte, so the
 * layout is little-endian whatever the host.
 */
#include "kl_base.h"

#include <errno.h>
#include <math.h>
#include <string.h>
#include <sys/stat.h>

#include "error.h"
#include "options.h"

static const char kl_magic[8] = {'D', 'R', '1', 'K', 'L', 'B', 'A', 'S'};

#define KL_VERSION 1

uint64_t
kl_hash_ids(uint64_t h, const int32_t *ids, int32_t n)
{
	for (int32_t i = 0; i < n; i++)
		for (int b = 0; b < 4; b++)
		{
			h ^= ((uint32_t) ids[i] >> (8 * b)) & 0xff;
			h *= 0x100000001b3ULL;
		}
	return h;
}

int32_t
kl_positions_per_chunk(int32_t ctx)
{
	return ctx - 1 - ctx / 2;
}

static void
put_u32(uint8_t *p, uint32_t v)
{
	for (int b = 0; b < 4; b++)
		p[b] = (uint8_t) (v >> (8 * b));
}

static uint32_t
get_u32(const uint8_t *p)
{
	return (uint32_t) p[0] | (uint32_t) p[1] << 8 | (uint32_t) p[2] << 16 | (uint32_t) p[3] << 24;
}

static uint32_t
f32_bits(float f)
{
	uint32_t	u;

	memcpy(&u, &f, sizeof u);
	return u;
}

static float
bits_f32(uint32_t u)
{
	float		f;

	memcpy(&f, &u, sizeof f);
	return f;
}

static size_t
record_bytes(uint32_t k)
{
	return 8 + 8 * (size_t) k;
}

FILE *
kl_base_create(const char *path, const struct kl_base_header *h, char *err)
{
	uint8_t		b[KL_BASE_HEADER_BYTES];
	FILE	   *f = fopen(path, "wb");

	if (!f)
	{
		err_set(err, "cannot create %s: %s", path, strerror(errno));
		return NULL;
	}
	memcpy(b, kl_magic, 8);
	put_u32(b + 8, KL_VERSION);
	put_u32(b + 12, h->n_vocab);
	put_u32(b + 16, h->ctx);
	put_u32(b + 20, h->k);
	put_u32(b + 24, h->chunks);
	put_u32(b + 28, h->positions);
	put_u32(b + 32, (uint32_t) h->tokens_hash);
	put_u32(b + 36, (uint32_t) (h->tokens_hash >> 32));
	if (fwrite(b, 1, sizeof b, f) != sizeof b)
	{
		err_set(err, "cannot write %s: %s", path, strerror(errno));
		fclose(f);
		return NULL;
	}
	return f;
}

int
kl_base_put(FILE *f, const struct kl_base_record *r, uint32_t k, char *err)
{
	uint8_t		b[8];

	put_u32(b, f32_bits(r->target_logp));
	put_u32(b + 4, f32_bits(r->log_rest));
	if (fwrite(b, 1, 8, f) != 8)
		return err_set(err, "cannot write the KL base: %s", strerror(errno));
	for (uint32_t i = 0; i < k; i++)
	{
		put_u32(b, (uint32_t) r->top[i].id);
		put_u32(b + 4, f32_bits(r->top[i].logp));
		if (fwrite(b, 1, 8, f) != 8)
			return err_set(err, "cannot write the KL base: %s", strerror(errno));
	}
	return 0;
}

/* The header's values against each other, the model and the file's size. */
static int
header_check(const struct kl_base_header *h, int32_t n_vocab, long long size, char *err)
{
	long long	want;

	if ((int64_t) h->n_vocab != n_vocab)
		return err_set(err, "KL base: saved with a vocabulary of %u tokens, the model has %d",
					   h->n_vocab, n_vocab);
	if (h->k < 1 || h->k > KL_TOP_MAX || h->k > h->n_vocab)
		return err_set(err, "KL base: corrupt header (%u top entries)", h->k);
	if (h->ctx < 16 || h->ctx > (1u << 24) || h->chunks < 1 || h->chunks > (1u << 24))
		return err_set(err, "KL base: corrupt header (ctx %u, %u chunks)", h->ctx, h->chunks);
	if ((long long) h->positions != (long long) h->chunks * kl_positions_per_chunk((int32_t) h->ctx))
		return err_set(err, "KL base: corrupt header (%u positions for %u chunks of %u)",
					   h->positions, h->chunks, h->ctx);
	want = KL_BASE_HEADER_BYTES + (long long) h->positions * (long long) record_bytes(h->k);
	if (size != want)
		return err_set(err, "KL base: the file has %lld bytes, its header says %lld: %s", size, want,
					   size < want ? "truncated" : "trailing bytes");
	return 0;
}

static int
header_read(FILE *f, const char *path, int32_t n_vocab, struct kl_base_header *h, char *err)
{
	uint8_t		b[KL_BASE_HEADER_BYTES];
	struct stat st;

	if (fstat(fileno(f), &st) != 0)
		return err_set(err, "cannot stat %s: %s", path, strerror(errno));
	if (fread(b, 1, sizeof b, f) != sizeof b)
		return err_set(err, "%s: truncated: shorter than a KL base header (%d bytes)", path,
					   KL_BASE_HEADER_BYTES);
	if (memcmp(b, kl_magic, 8) != 0)
		return err_set(err, "%s is not a KL base file (deepseek-r1 perplexity --kl-base-save)", path);
	if (get_u32(b + 8) != KL_VERSION)
		return err_set(err, "%s: KL base version %u, this program reads version %d", path,
					   get_u32(b + 8), KL_VERSION);
	h->n_vocab = get_u32(b + 12);
	h->ctx = get_u32(b + 16);
	h->k = get_u32(b + 20);
	h->chunks = get_u32(b + 24);
	h->positions = get_u32(b + 28);
	h->tokens_hash = get_u32(b + 32) | (uint64_t) get_u32(b + 36) << 32;
	return header_check(h, n_vocab, (long long) st.st_size, err);
}

FILE *
kl_base_open(const char *path, int32_t n_vocab, struct kl_base_header *h, char *err)
{
	FILE	   *f = fopen(path, "rb");

	if (!f)
	{
		err_set(err, "cannot open %s: %s", path, strerror(errno));
		return NULL;
	}
	if (header_read(f, path, n_vocab, h, err) != 0)
	{
		fclose(f);
		return NULL;
	}
	return f;
}

/* A log-probability as the writer makes them: finite and at most 0. */
static bool
logp_ok(float v)
{
	return isfinite(v) && v <= 0.0f;
}

int
kl_base_get(FILE *f, const struct kl_base_header *h, struct kl_base_record *r, char *err)
{
	uint8_t		b[8];

	if (fread(b, 1, 8, f) != 8)
		return err_set(err, "KL base: cannot read a record (the file changed?)");
	r->target_logp = bits_f32(get_u32(b));
	r->log_rest = bits_f32(get_u32(b + 4));
	if (!logp_ok(r->target_logp) || !(logp_ok(r->log_rest) || r->log_rest == -INFINITY))
		return err_set(err, "KL base: corrupt record (log-probabilities %g, %g)",
					   r->target_logp, r->log_rest);
	for (uint32_t i = 0; i < h->k; i++)
	{
		if (fread(b, 1, 8, f) != 8)
			return err_set(err, "KL base: cannot read a record (the file changed?)");
		r->top[i].id = (int32_t) get_u32(b);
		r->top[i].logp = bits_f32(get_u32(b + 4));
		if (r->top[i].id < 0 || (uint32_t) r->top[i].id >= h->n_vocab || !logp_ok(r->top[i].logp) ||
			(i > 0 && r->top[i].logp > r->top[i - 1].logp))
			return err_set(err, "KL base: corrupt record (entry %u: token %d, log-probability %g)",
						   i, r->top[i].id, r->top[i].logp);
	}
	return 0;
}
