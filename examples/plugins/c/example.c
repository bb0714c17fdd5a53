/*
 * example: a pushagent collector plugin in C (ABI v1, docs/plugin-abi.md).
 *
 * It reads its config, a JSON object such as {"name": "orders", "count": 20},
 * on stdin and prints, in the Prometheus text format on stdout:
 *
 *   c_example_value{i="0"} 0 ... c_example_value{i="<count-1>"} <(count-1)^2>
 *   c_example_config{name="<name>"} <count>
 *
 * Defaults: name "c", count 20. Unknown keys and wrong types are errors
 * (message on stderr, exit code 1), as in the Go SDK.
 *
 * One source, three builds (build.sh):
 *   - a WASI command: main() runs once per fresh instance;
 *   - a WASI reactor: the agent calls the exported pushagent_collect() once
 *     per run on a warm instance, so everything per-run lives on the stack,
 *     stdin is read to EOF on every call and stdout is flushed before return;
 *   - a static native Linux binary, the fork/exec baseline for benchmarks.
 * Only read(2) and stdio are used, so the native build needs nothing else.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define MAX_CONFIG 4096 /* bytes of config we accept */
#define MAX_NAME 256    /* bytes of the decoded name */
#define MAX_COUNT 10000 /* series in c_example_value */

struct config {
	char name[MAX_NAME + 1];
	long count;
};

/* parser is a cursor over the config bytes; err is set on the first error. */
struct parser {
	const char *p, *end;
	const char *err;
};

static void skip_ws(struct parser *ps) {
	while (ps->p < ps->end && (*ps->p == ' ' || *ps->p == '\t' || *ps->p == '\n' || *ps->p == '\r'))
		ps->p++;
}

static int expect(struct parser *ps, char c) {
	skip_ws(ps);
	if (ps->p < ps->end && *ps->p == c) {
		ps->p++;
		return 1;
	}
	return 0;
}

static int hex4(struct parser *ps, unsigned *out) {
	unsigned v = 0;
	if (ps->end - ps->p < 4)
		return 0;
	for (int i = 0; i < 4; i++) {
		char c = *ps->p++;
		v <<= 4;
		if (c >= '0' && c <= '9') v |= (unsigned)(c - '0');
		else if (c >= 'a' && c <= 'f') v |= (unsigned)(c - 'a' + 10);
		else if (c >= 'A' && c <= 'F') v |= (unsigned)(c - 'A' + 10);
		else return 0;
	}
	*out = v;
	return 1;
}

/* put appends one UTF-8 encoded code point to buf[*n], within cap bytes. */
static int put(char *buf, size_t *n, size_t cap, unsigned cp) {
	char tmp[4];
	size_t k;
	if (cp < 0x80) { tmp[0] = (char)cp; k = 1; }
	else if (cp < 0x800) { tmp[0] = (char)(0xC0 | cp >> 6); tmp[1] = (char)(0x80 | (cp & 0x3F)); k = 2; }
	else if (cp < 0x10000) { tmp[0] = (char)(0xE0 | cp >> 12); tmp[1] = (char)(0x80 | (cp >> 6 & 0x3F)); tmp[2] = (char)(0x80 | (cp & 0x3F)); k = 3; }
	else { tmp[0] = (char)(0xF0 | cp >> 18); tmp[1] = (char)(0x80 | (cp >> 12 & 0x3F)); tmp[2] = (char)(0x80 | (cp >> 6 & 0x3F)); tmp[3] = (char)(0x80 | (cp & 0x3F)); k = 4; }
	if (*n + k > cap)
		return 0;
	memcpy(buf + *n, tmp, k);
	*n += k;
	return 1;
}

/* string decodes a JSON string into buf (NUL-terminated, at most cap bytes). */
static int string(struct parser *ps, char *buf, size_t cap) {
	size_t n = 0;
	if (!expect(ps, '"'))
		return ps->err = "expected a string", 0;
	while (ps->p < ps->end && *ps->p != '"') {
		unsigned char c = (unsigned char)*ps->p++;
		unsigned cp = c;
		if (c < 0x20)
			return ps->err = "control character in string", 0;
		if (c == '\\') {
			if (ps->p >= ps->end)
				break;
			switch (*ps->p++) {
			case '"': cp = '"'; break;
			case '\\': cp = '\\'; break;
			case '/': cp = '/'; break;
			case 'b': cp = '\b'; break;
			case 'f': cp = '\f'; break;
			case 'n': cp = '\n'; break;
			case 'r': cp = '\r'; break;
			case 't': cp = '\t'; break;
			case 'u': {
				unsigned lo;
				if (!hex4(ps, &cp))
					return ps->err = "bad \\u escape", 0;
				if (cp >= 0xD800 && cp < 0xDC00) { /* a surrogate pair */
					if (ps->end - ps->p < 6 || ps->p[0] != '\\' || ps->p[1] != 'u')
						return ps->err = "unpaired surrogate", 0;
					ps->p += 2;
					if (!hex4(ps, &lo) || lo < 0xDC00 || lo > 0xDFFF)
						return ps->err = "unpaired surrogate", 0;
					cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
				} else if (cp >= 0xDC00 && cp < 0xE000) {
					return ps->err = "unpaired surrogate", 0;
				}
				break;
			}
			default:
				return ps->err = "bad escape in string", 0;
			}
			if (!put(buf, &n, cap, cp))
				return ps->err = "string too long", 0;
		} else {
			/* raw bytes, UTF-8 included, are copied as they are */
			if (n + 1 > cap)
				return ps->err = "string too long", 0;
			buf[n++] = (char)c;
		}
	}
	if (ps->p >= ps->end)
		return ps->err = "unterminated string", 0;
	ps->p++; /* closing quote */
	buf[n] = '\0';
	return 1;
}

/* integer reads a JSON number that must be a whole number in [0, MAX_COUNT]. */
static int integer(struct parser *ps, long *out) {
	long v = 0;
	int digits = 0;
	skip_ws(ps);
	while (ps->p < ps->end && *ps->p >= '0' && *ps->p <= '9') {
		v = v * 10 + (*ps->p++ - '0');
		if (v > MAX_COUNT)
			return ps->err = "count must be at most 10000", 0;
		digits++;
	}
	if (digits == 0 || (ps->p < ps->end && (*ps->p == '.' || *ps->p == 'e' || *ps->p == 'E')))
		return ps->err = "count must be a whole number from 0 to 10000", 0;
	*out = v;
	return 1;
}

/* parse fills cfg from the JSON object in buf[0..n]; NULL means success. */
static const char *parse(const char *buf, size_t n, struct config *cfg) {
	struct parser ps = {buf, buf + n, NULL};
	char key[32];
	strcpy(cfg->name, "c");
	cfg->count = 20;
	if (!expect(&ps, '{'))
		return "config must be a JSON object";
	if (!expect(&ps, '}')) {
		do {
			if (!string(&ps, key, sizeof key - 1))
				return ps.err;
			if (!expect(&ps, ':'))
				return "expected ':' after a key";
			if (strcmp(key, "name") == 0) {
				if (!string(&ps, cfg->name, MAX_NAME))
					return ps.err;
			} else if (strcmp(key, "count") == 0) {
				if (!integer(&ps, &cfg->count))
					return ps.err;
			} else {
				return "unknown key (want name, count)";
			}
		} while (expect(&ps, ','));
		if (!expect(&ps, '}'))
			return "expected ',' or '}'";
	}
	skip_ws(&ps);
	if (ps.p != ps.end)
		return "trailing data after the config object";
	return NULL;
}

/* label_value prints s escaped as a Prometheus label value. */
static void label_value(FILE *out, const char *s) {
	for (; *s; s++) {
		switch (*s) {
		case '\\': fputs("\\\\", out); break;
		case '"': fputs("\\\"", out); break;
		case '\n': fputs("\\n", out); break;
		default: fputc(*s, out);
		}
	}
}

/* collect is one run: config on fd 0, metrics on stdout; 0 is success. */
static int collect(void) {
	char buf[MAX_CONFIG];
	size_t n = 0;
	struct config cfg;
	const char *err;

	/* To EOF: a reactor gets a fresh stdin per call. read(2), not stdio:
	 * stdio's EOF flag would stay set after the first call, and later
	 * calls would read nothing (see docs/plugin-abi.md, "Reactor"). */
	for (;;) {
		ssize_t r = read(0, buf + n, sizeof buf - n);
		if (r == 0)
			break;
		if (r < 0) {
			if (errno == EINTR)
				continue;
			fprintf(stderr, "c example: read config: %s\n", strerror(errno));
			return 1;
		}
		n += (size_t)r;
		if (n == sizeof buf) {
			fprintf(stderr, "c example: config longer than %d bytes\n", MAX_CONFIG);
			return 1;
		}
	}
	if ((err = parse(buf, n, &cfg)) != NULL) {
		fprintf(stderr, "c example: config: %s\n", err);
		return 1;
	}

	fputs("# HELP c_example_value Example gauge family: series i has the value i*i.\n"
	      "# TYPE c_example_value gauge\n", stdout);
	for (long i = 0; i < cfg.count; i++)
		printf("c_example_value{i=\"%ld\"} %ld\n", i, i * i);
	fputs("# HELP c_example_config The config echoed: name as a label, count as the value.\n"
	      "# TYPE c_example_config gauge\n"
	      "c_example_config{name=\"", stdout);
	label_value(stdout, cfg.name);
	printf("\"} %ld\n", cfg.count);
	/* A reactor's stdout is rebound after the call: flush before returning. */
	if (fflush(stdout) != 0 || ferror(stdout)) {
		fprintf(stderr, "c example: write metrics: %s\n", strerror(errno));
		clearerr(stdout);
		return 1;
	}
	return 0;
}

/* The reactor's entry point; the command and the native binary use main. */
#ifdef __wasm__
__attribute__((export_name("pushagent_collect")))
#endif
int pushagent_collect(void) {
	return collect();
}

int main(void) {
	return collect();
}
