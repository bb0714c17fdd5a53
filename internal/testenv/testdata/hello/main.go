// Command hello is the smallest program BuildGo's test can build.
package main

import "fmt"

func main() { fmt.Println("hello") }
