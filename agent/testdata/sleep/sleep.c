// A C command that sleeps far past any collector timeout, then prints a
// series that must never be pushed. Built by sleep_test.go:
//   clang --target=wasm32-wasi --sysroot=/usr -O2 -o sleep-c.wasm sleep.c
#include <stdio.h>
#include <unistd.h>

int main(void) {
	sleep(120);
	printf("hostile_slept 1\n");
	return 0;
}
