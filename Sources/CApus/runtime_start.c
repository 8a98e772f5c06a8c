/*
 * How apus starts, before Swift's main.
 *
 * The heap keeps its top: a start frees its larger buffers (the handshake's 64 KiB receive
 * buffer, the config's text) while the heap is small, and glibc would give the top back
 * and take it again with a brk pair each time. Pages of the kept top that were never
 * touched cost no memory, and init gives its heap back before it waits
 * (apus_wait_for_start_and_exec).
 *
 * Two start-up steps of the static Swift runtime that a release apus does without.
 * The release link (Makefile RELEASE_FLAGS) sends the runtime's calls here with
 * `--wrap`; a debug or test build does not, and these functions go unused.
 *
 * - The runtime finds argv for CommandLine.arguments by reading /proc/self/maps in a
 *   static constructor (open, fstat, two reads, close and a sscanf per mapping, in every
 *   start). glibc hands argc and argv to every constructor, so one here keeps them.
 *   With the runtime's getter wrapped, nothing references its CommandLine.cpp.o, which
 *   the link then leaves out, and its constructor with it.
 * - The runtime's crash-backtrace set-up looks for a swift-backtrace helper next to the
 *   binary (readlink and eight stat calls per start). apus ships as one file, so the
 *   search can never succeed; saying "not found" at once leaves backtracing off, as it
 *   is today.
 *
 * One start-up step of static glibc goes too: _dl_non_dynamic_init records where the
 * binary lies (readlink of /proc/self/exe, a first walk of this new process's /proc
 * entry) for "$ORIGIN" in the paths of libraries dlopen loads. apus loads none: no NSS,
 * no iconv, and the Swift runtime's one dlopen is a debugging hook
 * (SWIFT_DEBUG_LIB_PRESPECIALIZED_PATH) where only a path naming $ORIGIN would differ.
 * glibc's own answer when /proc is missing is the same "unknown".
 */
#include <malloc.h>
#include <stddef.h>

static char **start_argv;
static int start_argc;

__attribute__((constructor)) static void apus_start(int argc, char **argv, char **envp)
{
	(void)envp;
	mallopt(M_TRIM_THRESHOLD, 1 << 20);
	start_argc = argc;
	start_argv = argv;
}

__attribute__((swiftcall)) char **__wrap__swift_stdlib_getUnsafeArgvArgc(int *outArgLen)
{
	*outArgLen = start_argc;
	return start_argv;
}

char *__wrap_swift_copyAuxiliaryExecutablePath(const char *name)
{
	(void)name;
	return NULL;
}

/* glibc's "origin unknown" ((char *) -1), which its path expansion already handles. */
const char *__wrap__dl_get_origin(void)
{
	return (const char *)-1;
}
