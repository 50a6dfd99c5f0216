/*
 * options.c — parsing the command lines of the deepseek-r1 program (see
 * options.h).
 */
#include "options.h"

#include <limits.h>
#include <string.h>
#include <unistd.h>

#include "cli_util.h"
#include "dr1_limits.h"

int
cli_parse_opts(int argc, char **argv, bool bench, struct cli_opts *o)
{
	bool		generate = argc > 1 && !strcmp(argv[1], "generate");

	for (int i = 2; i < argc; i++)
	{
		const char *a = argv[i];
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;
		int64_t		n;
		int			rc = 0;
		bool		takes_value = true;

		if (!strcmp(a, "--raw"))
			o->raw = true, takes_value = false;
		else if (!strcmp(a, "--ids"))
			o->ids = true, takes_value = false;
		else if (!strcmp(a, "--special"))
			o->special = true, takes_value = false;
		else if (!strcmp(a, "--truncate"))
			o->truncate = true, takes_value = false;
		else if (!strcmp(a, "--timings") && generate)
			o->timings = true, takes_value = false;
		else if (!strcmp(a, "--random-kv") && bench)
			o->random_kv = true, takes_value = false;
		else if (!v)
			return cli_fail("option %s needs a value (or is unknown)", a);
		else if (!strcmp(a, "-m") || !strcmp(a, "--model"))
			o->model = v;
		else if ((!strcmp(a, "-p") || !strcmp(a, "--prompt")) && bench)
			rc = cli_parse_int(a, v, 1, 1 << 20, &n), o->n_prompt = (int32_t) n;
		else if (!strcmp(a, "-p") || !strcmp(a, "--prompt"))
			o->prompt = v;
		else if (!strcmp(a, "--system"))
			o->system = v;
		else if (!strcmp(a, "--schema") && generate)
			o->schema = v;
		else if (!strcmp(a, "-f") || !strcmp(a, "--file"))
			o->file = v;
		else if (!strcmp(a, "--chunks"))
			rc = cli_parse_int(a, v, 1, 1 << 24, &n), o->chunks = (int32_t) n;
		else if (!strcmp(a, "--kl-top"))
			rc = cli_parse_int(a, v, 1, KL_TOP_MAX, &n), o->kl_top = (int32_t) n;
		else if (!strcmp(a, "--kl-base"))
			o->kl_base = v;
		else if (!strcmp(a, "--kl-base-save"))
			o->kl_base_save = v;
		else if (!strcmp(a, "-n") || !strcmp(a, "--n-predict"))
			rc = cli_parse_int(a, v, 0, 1 << 20, &n), o->n_predict = (int32_t) n;
		else if (!strcmp(a, "--parallel") && (bench || generate))
			rc = cli_parse_int(a, v, 1, 256, &n), o->parallel = (int32_t) n;
		else if (!strcmp(a, "-t") || !strcmp(a, "--threads"))
			rc = cli_parse_int(a, v, 1, 1024, &n), o->threads = (int) n;
		else if (!strcmp(a, "-c") || !strcmp(a, "--ctx-size"))
			rc = cli_parse_int(a, v, 16, 1 << 24, &n), o->ctx = (int32_t) n;
		else if (!strcmp(a, "--temp"))
			rc = cli_parse_float(a, v, 0.0f, 100.0f, &o->temperature);
		else if (!strcmp(a, "--seed"))
			rc = cli_parse_u64(a, v, &o->seed);
		else if (!strcmp(a, "--device"))
		{
			if (device_parse(v, &o->device) != 0)
				return cli_fail("--device expects auto, cpu or cuda, got '%s'", v);
		}
		else if ((!strcmp(a, "-d") || !strcmp(a, "--depth")) && bench)
			rc = cli_parse_int(a, v, 0, 1 << 24, &n), o->depth = (int32_t) n;
		else if (!strcmp(a, "--sparse"))
		{
			if (sparse_mode_parse(v, &o->sparse) != 0)
				return cli_fail("--sparse expects off, on or auto, got '%s'", v);
		}
		else if (!strcmp(a, "--sparse-budget"))
			rc = cli_parse_int(a, v, DR1_SPARSE_BUDGET_MIN, DR1_SPARSE_BUDGET_MAX, &n),
				o->sparse_budget = (int32_t) n;
		else if (!strcmp(a, "--sparse-min-context"))
			rc = cli_parse_int(a, v, 0, DR1_SPARSE_BUDGET_MAX, &n), o->sparse_min_context = (int32_t) n;
		else if (!strcmp(a, "--kv-type"))
		{
			if (kv_type_parse(v, &o->kv_type) != 0)
				return cli_fail("--kv-type expects f16 or q8_0, got '%s'", v);
		}
		else
			return cli_fail("unknown option %s", a);
		if (rc)
			return rc;
		if (takes_value)
			i++;
	}
	if (!o->model)
		return cli_fail("-m FILE is required");
	return 0;
}

int
serve_parse_opts(int argc, char **argv, struct serve_opts *o)
{
	for (int i = 2; i < argc; i += 2)
	{
		const char *a = argv[i];
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;
		int64_t		n = 0;
		int			rc = 0;

		if (!v)
			return cli_fail("serve: option %s needs a value", a);
		if (!strcmp(a, "--fd"))
			rc = cli_parse_int(a, v, 0, INT_MAX, &n), o->fd = (int) n;
		else if (!strcmp(a, "-m") || !strcmp(a, "--model"))
			o->model = v;
		else if (!strcmp(a, "--device"))
			o->device = v;
		else if (!strcmp(a, "-t") || !strcmp(a, "--threads"))
			rc = cli_parse_int(a, v, 0, SERVE_THREADS_MAX, &n), o->threads = (int) n;
		else if (!strcmp(a, "-c") || !strcmp(a, "--ctx-size"))
			rc = cli_parse_int(a, v, 0, SERVE_CTX_MAX, &n), o->ctx = (int32_t) n;
		else if (!strcmp(a, "--kv-bytes"))
			rc = cli_parse_int(a, v, 0, INT64_MAX, &n), o->kv_bytes = n;
		else if (!strcmp(a, "--max-batch"))
			rc = cli_parse_int(a, v, 1, SERVE_MAX_BATCH_MAX, &n), o->max_batch = (int) n;
		else if (!strcmp(a, "--protocol"))
			rc = cli_parse_int(a, v, 0, INT_MAX, &n), o->protocol = (int) n;
		else if (!strcmp(a, "--role"))
		{
			if (strcmp(v, "generate") != 0 && strcmp(v, "embed") != 0)
				return cli_fail("serve: --role must be generate or embed");
			o->embedding = !strcmp(v, "embed");
		}
		else if (!strcmp(a, "--prefix-sharing"))
		{
			if (strcmp(v, "on") != 0 && strcmp(v, "off") != 0)
				return cli_fail("serve: --prefix-sharing must be on or off");
			o->prefix_sharing = !strcmp(v, "on");
		}
		else if (!strcmp(a, "--kv-type"))
		{
			if (kv_type_parse(v, &o->kv_type) != 0)
				return cli_fail("serve: --kv-type must be f16 or q8_0");
		}
		else
			return cli_fail("serve: unknown option %s", a);
		if (rc)
			return rc;
	}
	if (o->fd < 0 || !o->model)
		return cli_fail("serve needs --fd N and -m FILE");
	if (o->threads <= 0)
	{
		long		ncpu = sysconf(_SC_NPROCESSORS_ONLN);

		o->threads = ncpu > 0 ? (int) ncpu : 1;
	}
	return 0;
}
