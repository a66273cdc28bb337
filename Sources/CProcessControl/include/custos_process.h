#ifndef CUSTOS_PROCESS_H
#define CUSTOS_PROCESS_H

/* prctl(2) is variadic, which Swift cannot call: these wrap the two uses Custos has. */

/* PR_SET_DUMPABLE: 0 forbids core dumps and ptrace attach by the same user. Returns 0 or -1 (errno). */
int custos_set_dumpable(int dumpable);

/* PR_GET_DUMPABLE: 0 or 1 (2 for suid-dumpable), -1 on error. */
int custos_get_dumpable(void);

#endif
