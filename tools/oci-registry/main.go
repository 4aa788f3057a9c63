// Command oci-registry serves an in-memory OCI distribution registry (go-containerregistry's
// pkg/registry, the registry its own tests run) on 127.0.0.1, so the packaging tests can `helm push` the
// chart to an OCI registry and pull it back without Docker or the network.
//
//	oci-registry      prints "listening on 127.0.0.1:PORT" once it accepts connections, serves until killed
package main

import (
	"fmt"
	"log"
	"net"
	"net/http"
	"os"

	"github.com/google/go-containerregistry/pkg/registry"
)

func main() {
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Printf("listening on %s\n", listener.Addr().String())
	handler := registry.New(registry.Logger(log.New(os.Stderr, "oci-registry: ", log.LstdFlags)))
	if err := http.Serve(listener, handler); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
