package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"golang.org/x/crypto/bcrypt"
)

// stdin is where hash-password reads a password given neither by file
// nor otherwise; tests replace it.
var stdin io.Reader = os.Stdin

// cmdHashPassword prints the bcrypt hash of a password, the form a web
// config's basic_auth_users takes, so that securing the listener needs no
// tool besides the agent (htpasswd is not on every machine, nor in the
// image). There is no password flag: a password on a command line shows in
// the process list and the shell's history.
func cmdHashPassword(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("hash-password", flag.ContinueOnError)
	passwordFile := fs.String("password-file", "", "file holding the password (a trailing newline is ignored); default: the first line of standard input")
	cost := fs.Int("cost", bcrypt.DefaultCost, fmt.Sprintf("bcrypt cost, %d to %d; each step doubles the time a login (and a guess) takes", bcrypt.MinCost, bcrypt.MaxCost))
	if code, ok := parseFlags(fs, args, stderr); !ok {
		return code
	}
	var (
		b   []byte
		err error
	)
	if *passwordFile != "" {
		b, err = os.ReadFile(*passwordFile)
		if err != nil {
			fmt.Fprintln(stderr, "pushagent hash-password: --password-file:", err)
			return exitUsage
		}
	} else {
		line, rerr := bufio.NewReader(stdin).ReadString('\n')
		if rerr != nil && !errors.Is(rerr, io.EOF) {
			fmt.Fprintln(stderr, "pushagent hash-password: reading standard input:", rerr)
			return exitUsage
		}
		b = []byte(line)
	}
	password := strings.TrimRight(string(b), "\r\n")
	if password == "" {
		fmt.Fprintln(stderr, "pushagent hash-password: the password is empty; write it to standard input or give --password-file")
		return exitUsage
	}
	hash, err := bcrypt.GenerateFromPassword([]byte(password), *cost)
	switch {
	case errors.Is(err, bcrypt.ErrPasswordTooLong):
		fmt.Fprintln(stderr, "pushagent hash-password: the password is longer than bcrypt's 72 bytes; use a shorter one")
		return exitUsage
	case err != nil:
		fmt.Fprintf(stderr, "pushagent hash-password: --cost %d: %v\n", *cost, err)
		return exitUsage
	}
	fmt.Fprintln(stdout, string(hash))
	return exitOK
}
