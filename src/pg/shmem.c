/*
 * shmem.c — the fixed shared memory: the worker's state, the model
 * description, the counters and the request slots.
 */
#include "postgres.h"

#include <signal.h>

#include "miscadmin.h"
#include "postmaster/bgworker.h"
#include "storage/ipc.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"

#include "deepseek_r1.h"

DR1Shared  *dr1_shared = NULL;

/* A backend runs at most one request at a time, so one slot per process
 * that can call the functions is enough: no backend ever waits for a slot. */
static int
n_slots(void)
{
	return MaxConnections + max_worker_processes + 1;
}

Size
dr1_shmem_size(void)
{
	return add_size(offsetof(DR1Shared, slots), mul_size(n_slots(), sizeof(DR1Slot)));
}

void
dr1_shmem_startup(void)
{
	bool		found;

	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	dr1_shared = ShmemInitStruct("deepseek_r1", dr1_shmem_size(), &found);
	if (!found)
	{
		memset(dr1_shared, 0, dr1_shmem_size());
		SpinLockInit(&dr1_shared->mutex);
		for (int r = 0; r < DR1_N_ROLES; r++)
			dr1_shared->models[r].state = DR1_STATE_STARTING;
		dr1_shared->n_slots = n_slots();
	}
	LWLockRelease(AddinShmemInitLock);
}

const char *
dr1_state_name(DR1State s)
{
	switch (s)
	{
		case DR1_STATE_STARTING:
			return "starting";
		case DR1_STATE_LOADING:
			return "loading";
		case DR1_STATE_READY:
			return "ready";
		case DR1_STATE_FAILED:
			return "failed";
	}
	return "unknown";
}

void
dr1_set_state(DR1Role role, DR1State s, const char *reason)
{
	SpinLockAcquire(&dr1_shared->mutex);
	dr1_shared->models[role].state = s;
	strlcpy(dr1_shared->models[role].reason, reason ? reason : "", DR1_REASON_MAX);
	SpinLockRelease(&dr1_shared->mutex);
}

/* The setting that names the model of a role, for messages. */
const char *
dr1_role_setting(DR1Role role)
{
	return role == DR1_ROLE_EMBED ? "deepseek_r1.embedding_model" : "deepseek_r1.model";
}

void
dr1_wake_worker(void)
{
	Latch	   *latch;

	SpinLockAcquire(&dr1_shared->mutex);
	latch = dr1_shared->worker_latch;
	SpinLockRelease(&dr1_shared->mutex);
	if (latch)
		SetLatch(latch);
}
