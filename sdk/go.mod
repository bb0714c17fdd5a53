module github.com/pushagent/pushagent/sdk

go 1.24
