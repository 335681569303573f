// Command etcd is etcd's own server entry point, built from the etcd 3.6
// module already in k8s.io/kubernetes' dependency graph (etcd's go.mod has
// replace directives, so it cannot be `go install`ed directly).
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() {
	etcdmain.Main(os.Args)
}
