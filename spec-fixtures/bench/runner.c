/* runner.c - timing harness for spec-fixtures/bench/bench.sh.
 *
 *   runner time -n N [-w W] [-c C] [-t SEC] [-g MS] [-f FAULTS] [-u UID:GID] -p IDPREFIX
 *               -o SAMPLES -e ERRLOG -- CMD... [:: CMD...]
 *       Runs the command sequence N times (after W untimed warm-up runs) and appends
 *       one wall-clock time in ms per timed run to SAMPLES.  -g sleeps MS before every
 *       run (untimed), so each start pays what back-to-back starts hide (the cgroup v1
 *       RCU grace period of the previous container's rmdir).  -f appends the page faults
 *       (minor + major) of each timed run to FAULTS: getrusage(RUSAGE_CHILDREN) before
 *       and after, which counts every process of the run the runner or a waited-for
 *       parent reaped (runtime, its helpers, the container).  -u runs the commands with
 *       that uid and gid and no supplementary groups (a rootless runtime).  Every "{id}" inside an
 *       argument becomes IDPREFIX-<run> (IDPREFIX-<run>-<k> with -c C, which starts C
 *       copies of the sequence at once and times until the last one finishes), so
 *       every run uses a fresh container id.  Commands of one sequence run one after
 *       the other; a non-zero exit stops everything and exits 1 with the command's
 *       stderr (kept in ERRLOG) on our stderr.  The runner is a child subreaper, as a
 *       containerd shim is, so detached container processes (create/start) are reaped
 *       here instead of by the host's pid 1.
 *   runner stats FILE
 *       Prints "n median p90 mean min max" of the samples in FILE (ms); median and
 *       p90 are linearly interpolated between order statistics (numpy's default).
 *   runner reap [-k SEC] -- CMD...
 *       Runs CMD as a child subreaper and, once CMD exits, waits up to SEC (default 10)
 *       for orphaned descendants, then SIGKILLs those still left (all were started by
 *       CMD).  Exits with CMD's status.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <grp.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/types.h>
#include <sys/wait.h>

#define MAXCMD 8

static volatile sig_atomic_t timed_out;
static void on_alarm(int s) { (void)s; timed_out = 1; }

static double now_ms(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

/* -u: the identity the commands run as (0:0 with gid -1 = unchanged). */
static uid_t run_uid;
static gid_t run_gid = (gid_t)-1;

static char *subst(const char *arg, const char *id)
{
	const char *p = strstr(arg, "{id}");
	char *r;
	if (!p) return strdup(arg);
	if (asprintf(&r, "%.*s%s%s", (int)(p - arg), arg, id, p + 4) < 0) return NULL;
	return r;
}

struct seq { int ncmd; char **cmd[MAXCMD]; };

/* One copy of the sequence: returns 0 or the failing status (exit code, 128+sig). */
static pid_t spawn(char **argv, const char *id, const char *errlog)
{
	pid_t p;
	int n = 0, i;
	char **a;
	while (argv[n]) n++;
	a = calloc(n + 1, sizeof *a);
	if (!a) return -1;
	for (i = 0; i < n; i++) a[i] = subst(argv[i], id);
	p = fork();
	if (p == 0) {
		int fd = open("/dev/null", O_RDWR);
		int e = open(errlog, O_WRONLY | O_CREAT | O_APPEND, 0644);
		if (fd >= 0) { dup2(fd, 0); dup2(fd, 1); }
		if (e >= 0) dup2(e, 2);
		signal(SIGALRM, SIG_DFL);
		if (run_gid != (gid_t)-1 && (setgroups(0, NULL) < 0 || setgid(run_gid) < 0 || setuid(run_uid) < 0)) {
			dprintf(2, "runner: become %d:%d: %s\n", (int)run_uid, (int)run_gid, strerror(errno));
			_exit(126);
		}
		execvp(a[0], a);
		dprintf(2, "runner: exec %s: %s\n", a[0], strerror(errno));
		_exit(127);
	}
	for (i = 0; i < n; i++) free(a[i]);
	free(a);
	return p;
}

static void show_err(const char *errlog)
{
	char buf[4096];
	ssize_t k;
	int fd = open(errlog, O_RDONLY);
	if (fd < 0) return;
	k = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (k > 0) {
		buf[k] = 0;
		fprintf(stderr, "%s%s", buf, buf[k - 1] == '\n' ? "" : "\n");
	}
}

/* Runs C copies of seq concurrently, each its commands in order.  Stray children
 * (reparented orphans) are reaped and ignored. */
static int run_once(struct seq *s, int conc, const char *prefix, long run, const char *errlog,
		    int timeout)
{
	pid_t pid[1024];
	int step[1024], left = conc, k, rc = 0;
	char id[256];

	for (k = 0; k < conc; k++) {
		if (conc > 1) snprintf(id, sizeof id, "%s-%ld-%d", prefix, run, k);
		else snprintf(id, sizeof id, "%s-%ld", prefix, run);
		step[k] = 0;
		pid[k] = spawn(s->cmd[0], id, errlog);
		if (pid[k] < 0) { perror("runner: fork"); return 126; }
	}
	timed_out = 0;
	alarm(timeout);
	while (left > 0) {
		int st;
		pid_t w = waitpid(-1, &st, 0);
		if (w < 0) {
			if (errno == EINTR && timed_out) {
				fprintf(stderr, "runner: run %ld timed out after %d s\n", run, timeout);
				for (k = 0; k < conc; k++)
					if (pid[k] > 0) kill(pid[k], SIGKILL);
				rc = 124;
				timed_out = 0;
				continue;
			}
			if (errno == EINTR) continue;
			break;
		}
		for (k = 0; k < conc && pid[k] != w; k++) ;
		if (k == conc) continue;	/* an orphan we adopted */
		if (!rc && (!WIFEXITED(st) || WEXITSTATUS(st) != 0)) {
			rc = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
			fprintf(stderr, "runner: run %ld: command %d (%s) failed with status %d\n",
				run, step[k] + 1, s->cmd[step[k]][0], rc);
		}
		if (!rc && ++step[k] < s->ncmd) {
			if (conc > 1) snprintf(id, sizeof id, "%s-%ld-%d", prefix, run, k);
			else snprintf(id, sizeof id, "%s-%ld", prefix, run);
			pid[k] = spawn(s->cmd[step[k]], id, errlog);
			if (pid[k] < 0) { perror("runner: fork"); rc = 126; left--; }
		} else {
			pid[k] = 0;
			left--;
		}
	}
	alarm(0);
	while (waitpid(-1, NULL, WNOHANG) > 0) ;
	return rc;
}

static int cmd_time(int argc, char **argv)
{
	long n = 10, w = 0, i, gap = 0;
	int conc = 1, timeout = 60, opt;
	const char *prefix = NULL, *out = NULL, *errlog = "/dev/null", *faults = NULL;
	struct seq s = { 0 };
	FILE *f, *ff = NULL;
	struct sigaction sa = { .sa_handler = on_alarm };

	while ((opt = getopt(argc, argv, "+n:w:c:t:p:o:e:g:f:u:")) != -1) {
		switch (opt) {
		case 'n': n = atol(optarg); break;
		case 'w': w = atol(optarg); break;
		case 'c': conc = atoi(optarg); break;
		case 't': timeout = atoi(optarg); break;
		case 'p': prefix = optarg; break;
		case 'o': out = optarg; break;
		case 'e': errlog = optarg; break;
		case 'g': gap = atol(optarg); break;
		case 'f': faults = optarg; break;
		case 'u': {
			unsigned u, g;
			if (sscanf(optarg, "%u:%u", &u, &g) != 2) { fprintf(stderr, "runner: -u UID:GID\n"); return 2; }
			run_uid = u;
			run_gid = g;
			break;
		}
		default: return 2;
		}
	}
	if (!prefix || !out || optind >= argc || conc < 1 || conc > 1024 || n < 1) {
		fprintf(stderr, "usage: runner time -n N [-w W] [-c C] [-t SEC] [-g MS] [-f FAULTS] "
				"[-u UID:GID] -p PREFIX -o FILE [-e ERRLOG] -- CMD... [:: CMD...]\n");
		return 2;
	}
	s.cmd[s.ncmd++] = argv + optind;
	for (i = optind; i < argc; i++) {
		if (strcmp(argv[i], "::") == 0) {
			argv[i] = NULL;
			if (s.ncmd == MAXCMD || i + 1 >= argc) { fprintf(stderr, "runner: bad ::\n"); return 2; }
			s.cmd[s.ncmd++] = argv + i + 1;
		}
	}
	sigaction(SIGALRM, &sa, NULL);
	if (prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) < 0) perror("runner: subreaper");
	f = fopen(out, "a");
	if (!f) { perror(out); return 2; }
	if (faults && !(ff = fopen(faults, "a"))) { perror(faults); fclose(f); return 2; }
	for (i = 0; i < w + n; i++) {
		double t0, t1;
		struct rusage r0, r1;
		int rc;
		if (strcmp(errlog, "/dev/null")) truncate(errlog, 0);
		if (gap > 0) usleep(gap * 1000);
		getrusage(RUSAGE_CHILDREN, &r0);
		t0 = now_ms();
		rc = run_once(&s, conc, prefix, i, errlog, timeout);
		t1 = now_ms();
		getrusage(RUSAGE_CHILDREN, &r1);
		if (rc) {
			if (strcmp(errlog, "/dev/null")) show_err(errlog);
			fclose(f);
			if (ff) fclose(ff);
			return 1;
		}
		if (i >= w) fprintf(f, "%.4f\n", t1 - t0);
		if (i >= w && ff)
			fprintf(ff, "%ld\n", (r1.ru_minflt - r0.ru_minflt) + (r1.ru_majflt - r0.ru_majflt));
	}
	fclose(f);
	if (ff) fclose(ff);
	return 0;
}

static int dcmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static double quantile(const double *v, long n, double q)
{
	double h = (n - 1) * q;
	long lo = (long)h;
	if (lo + 1 >= n) return v[n - 1];
	return v[lo] + (h - lo) * (v[lo + 1] - v[lo]);
}

static int cmd_stats(const char *path)
{
	FILE *f = fopen(path, "r");
	double *v = NULL, x, sum = 0;
	long n = 0, cap = 0;
	if (!f) { perror(path); return 1; }
	while (fscanf(f, "%lf", &x) == 1) {
		if (n == cap) {
			double *nv = realloc(v, (cap = cap ? 2 * cap : 64) * sizeof *v);
			if (!nv) return 1;
			v = nv;
		}
		v[n++] = x;
		sum += x;
	}
	fclose(f);
	if (n == 0) { fprintf(stderr, "runner: %s: no samples\n", path); return 1; }
	qsort(v, n, sizeof *v, dcmp);
	printf("%ld %.3f %.3f %.3f %.3f %.3f\n", n, quantile(v, n, 0.5), quantile(v, n, 0.9),
	       sum / n, v[0], v[n - 1]);
	free(v);
	return 0;
}

/* Our direct children right now (includes adopted orphans). */
static int children(pid_t *out, int max)
{
	char path[64], buf[8192];
	int n = 0, fd;
	ssize_t k;
	char *p, *e;
	snprintf(path, sizeof path, "/proc/self/task/%d/children", (int)getpid());
	fd = open(path, O_RDONLY);
	if (fd < 0) return -1;
	k = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (k <= 0) return 0;
	buf[k] = 0;
	for (p = buf; n < max; p = e) {
		long v = strtol(p, &e, 10);
		if (e == p) break;
		out[n++] = (pid_t)v;
	}
	return n;
}

static volatile pid_t reap_child;
static void forward(int s) { if (reap_child > 0) kill(reap_child, s); }

static int cmd_reap(int argc, char **argv)
{
	struct sigaction fw = { .sa_handler = forward, .sa_flags = SA_RESTART };
	int grace = 10, opt, st = 0, rc;
	pid_t c, w, left[256];
	double end;

	while ((opt = getopt(argc, argv, "+k:")) != -1) {
		if (opt == 'k') grace = atoi(optarg);
		else return 2;
	}
	if (optind >= argc) { fprintf(stderr, "usage: runner reap [-k SEC] -- CMD...\n"); return 2; }
	if (prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) < 0) perror("runner: subreaper");
	/* The command gets the terminal's signals; we outlive it to clean up. */
	signal(SIGINT, SIG_IGN);
	signal(SIGQUIT, SIG_IGN);
	signal(SIGHUP, SIG_IGN);
	signal(SIGTERM, SIG_IGN);	/* until the child's pid is known */
	c = fork();
	if (c < 0) { perror("runner: fork"); return 126; }
	if (c == 0) {
		signal(SIGINT, SIG_DFL);
		signal(SIGQUIT, SIG_DFL);
		signal(SIGHUP, SIG_DFL);
		signal(SIGTERM, SIG_DFL);
		execvp(argv[optind], argv + optind);
		fprintf(stderr, "runner: exec %s: %s\n", argv[optind], strerror(errno));
		_exit(127);
	}
	reap_child = c;
	sigaction(SIGTERM, &fw, NULL);	/* to CMD, which cleans up; we stay for the orphans */
	while ((w = waitpid(-1, &st, 0)) != c)
		if (w < 0 && errno != EINTR) break;
	rc = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
	end = now_ms() + grace * 1e3;
	for (;;) {
		int n, i;
		while (waitpid(-1, NULL, WNOHANG) > 0) ;
		n = children(left, 256);
		if (n <= 0) break;
		if (now_ms() > end) {
			for (i = 0; i < n; i++) {
				fprintf(stderr, "runner: killing leftover process %d\n", (int)left[i]);
				kill(left[i], SIGKILL);
			}
			end = now_ms() + 5e3;
			grace = -1;
		}
		usleep(20000);
	}
	return rc;
}

int main(int argc, char **argv)
{
	if (argc >= 2 && strcmp(argv[1], "time") == 0) return cmd_time(argc - 1, argv + 1);
	if (argc == 3 && strcmp(argv[1], "stats") == 0) return cmd_stats(argv[2]);
	if (argc >= 2 && strcmp(argv[1], "reap") == 0) return cmd_reap(argc - 1, argv + 1);
	fprintf(stderr, "usage: runner time|stats|reap ... (see runner.c)\n");
	return 2;
}
