/*
 * gen_request.c — the result of a generation request, and the clock its
 * times are taken with.
 */
#include "gen_request.h"

#include <time.h>

double
clock_seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec * 1e-9;
}

void
gen_result_free(struct gen_result *r)
{
	token_list_free(&r->tokens);
	text_buf_free(&r->text);
}
