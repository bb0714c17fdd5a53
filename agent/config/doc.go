// Package config loads and validates pushagent's schedules.yaml.
//
// It turns the file into a [Config] that the rest of the agent can trust:
// every default applied, every relative path resolved against the file's
// directory, every ${VAR} expanded from the injected environment, every
// secret file read, and every value checked. Validation reports all problems
// at once, each with its YAML path (see [Error]), so a user fixes a broken file
// in one round instead of one error per restart.
//
// The file is read with koanf's file provider and parsed once, by this
// package's koanf parser, into a YAML node tree that keeps positions: the
// plain tree the loader walks and the line of every YAML path come from that
// one parse. This package never
// substitutes text into YAML before parsing: ${VAR} is expanded in the parsed
// values, so an environment value can never change the structure of the file.
//
// What it must never do: print a secret. Passwords, bearer tokens and the
// contents of secret files are held as [Secret], which prints "<secret>" with
// every fmt verb and in JSON. A collector's config and granted environment
// values may carry secrets too, so [Collector] redacts them in fmt output.
// No error message quotes a password, a token, a secret file's content or a
// URL's credentials.
//
// Safe defaults (why each is what it is):
//   - gateway timeout 10s: a stuck Pushgateway must not hold a job's run forever.
//   - collector timeout 5s: a plugin is untrusted code; its run is bounded.
//   - memory_limit 32MiB: a plugin cannot take the host's memory; raise it per collector.
//   - max_output 1MiB: the agent buffers a plugin's stdout; a runaway plugin cannot fill memory.
//   - series_limit 10000: a plugin printing 200,000 series within max_output
//     would have them all pushed, and one oversized group slows every later
//     push to that gateway. Like Prometheus' sample_limit, past it the run fails.
//   - method put: a run replaces the group's metrics, so series that disappeared
//     do not linger at the gateway.
//   - no mounts, no env: a plugin sees only what its collector grants.
//   - expire_after off: deleting other replicas' groups at the gateway is
//     opt-in, and when on it is at least 1m and 3 times the longest time
//     between runs, so that a replica that is alive but slow keeps its group.
package config
