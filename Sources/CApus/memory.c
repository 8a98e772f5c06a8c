#define _GNU_SOURCE
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "apus_syscalls.h"

int apus_release_own_text(void)
{
	struct stat exe;
	if (stat("/proc/self/exe", &exe) < 0)
		return -1;
	FILE *maps = fopen("/proc/self/maps", "re");
	if (maps == NULL)
		return -1;
	char line[512];
	int released = 0;
	while (fgets(line, sizeof line, maps) != NULL) {
		uintptr_t start, end;
		char perms[5];
		unsigned long long offset, inode;
		unsigned int major, minor;
		if (sscanf(line, "%" SCNxPTR "-%" SCNxPTR " %4s %llx %x:%x %llu", &start, &end, perms, &offset,
			   &major, &minor, &inode) != 7)
			continue;
		/* Text only: never written, so dropping it loses nothing. Read-only data may
		 * hold relocated (copied-on-write) pages, which must stay. */
		if (perms[0] != 'r' || perms[1] != '-' || perms[2] != 'x' || perms[3] != 'p')
			continue;
		if (inode != (unsigned long long)exe.st_ino || makedev(major, minor) != exe.st_dev)
			continue;
		if (madvise((void *)start, end - start, MADV_DONTNEED) == 0)
			released++;
	}
	fclose(maps);
	return released;
}
