/*
 * cuda_none.c — cuda_backend_ops of a build without CUDA (make CUDA=0):
 * never available, so device=auto runs on the CPU and device=cuda fails
 * with this reason.
 */
#include <stddef.h>

#include "cuda_backend.h"
#include "error.h"

static bool
none_available(char *why)
{
	err_set(why, "this deepseek-r1 was built without CUDA (make CUDA=1)");
	return false;
}

static void *
none_create(const struct model *m, const struct backend_params *p, char *err)
{
	(void) m;
	(void) p;
	none_available(err);
	return NULL;
}

const struct backend_ops cuda_backend_ops = {
	.name = "cuda",
	.available = none_available,
	.create = none_create,
};
