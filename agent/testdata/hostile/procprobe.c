// Build: clang --target=wasm32-wasi --sysroot=/usr -O2 -o procprobe.wasm procprobe.c
// (hostile_proc_test.go does this, with Debian's clang and wasi-libc).
//
// Probes a procfs grant as a hostile plugin would. Its config (stdin) is a
// JSON array of paths. For a path ending in "/" it lists the directory:
// hostile_proc_entry{dir,name} 1 per entry. For any other path it opens
// and reads the file: hostile_proc_errno{path} is 0 when it opened, else
// the WASI errno; hostile_proc_read_bytes{path} is what one read got. For
// ".../mem" it reads at the first address ".../maps" (same directory)
// lists, as a reader of the agent's memory would.
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char buf[65536];

static long first_mapping(const char *mem) {
	char maps[512];
	size_t n = strlen(mem);
	if (n < 3 || n + 2 > sizeof maps) return 0;
	memcpy(maps, mem, n - 3);
	strcpy(maps + n - 3, "maps");
	int fd = open(maps, O_RDONLY);
	if (fd < 0) return 0;
	char line[64] = {0};
	ssize_t got = read(fd, line, sizeof line - 1);
	close(fd);
	return got > 0 ? strtol(line, NULL, 16) : 0;
}

static void probe(const char *path) {
	size_t n = strlen(path);
	if (n > 0 && path[n - 1] == '/') {
		DIR *d = opendir(path);
		if (!d) {
			printf("hostile_proc_errno{path=\"%s\"} %d\n", path, errno);
			return;
		}
		struct dirent *e;
		while ((e = readdir(d)) != NULL)
			printf("hostile_proc_entry{dir=\"%s\",name=\"%s\"} 1\n", path, e->d_name);
		closedir(d);
		return;
	}
	int fd = open(path, O_RDONLY);
	if (fd < 0) {
		printf("hostile_proc_errno{path=\"%s\"} %d\n", path, errno);
		return;
	}
	printf("hostile_proc_errno{path=\"%s\"} 0\n", path);
	ssize_t got;
	if (n >= 4 && strcmp(path + n - 4, "/mem") == 0)
		got = pread(fd, buf, 64, first_mapping(path));
	else
		got = read(fd, buf, sizeof buf);
	printf("hostile_proc_read_bytes{path=\"%s\"} %ld\n", path, (long)got);
	close(fd);
}

int main(void) {
	static char cfg[65536];
	size_t len = fread(cfg, 1, sizeof cfg - 1, stdin);
	cfg[len] = 0;
	// The config is a JSON array of plain strings: no escapes to undo.
	for (char *p = cfg; (p = strchr(p, '"')) != NULL;) {
		char *end = strchr(p + 1, '"');
		if (!end) break;
		*end = 0;
		probe(p + 1);
		p = end + 1;
	}
	return 0;
}
