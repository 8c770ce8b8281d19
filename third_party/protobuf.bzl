"""Protocol Buffers with the system protoc (Debian protobuf-compiler 3.21).

cc_proto(name = "foo", srcs = ["foo.proto"], deps = [":bar"]) defines
  foo_proto     the .proto sources (for other protos that import them), and
  foo_cc_proto  a cc_library with the generated foo.pb.h / foo.pb.cc.
Imports are relative to the workspace root: `import "trace/trace.proto";`.
"""

def cc_proto(name, srcs, deps = [], visibility = None):
    native.filegroup(
        name = name + "_proto",
        srcs = srcs + [d + "_proto" for d in deps],
        visibility = visibility,
    )
    outs = []
    for src in srcs:
        base = src[:-len(".proto")]
        outs += [base + ".pb.h", base + ".pb.cc"]
    pkg = native.package_name()
    native.genrule(
        name = name + "_protoc",
        srcs = srcs + [d + "_proto" for d in deps],
        outs = outs,
        # protoc runs from the execution root; generated files land in
        # $(GENDIR) under their package path.
        cmd = "protoc --proto_path=. --cpp_out=$(GENDIR) " +
              " ".join(["%s/%s" % (pkg, s) if pkg else s for s in srcs]),
    )
    native.cc_library(
        name = name + "_cc_proto",
        srcs = [o for o in outs if o.endswith(".cc")],
        hdrs = [o for o in outs if o.endswith(".h")],
        deps = ["//third_party:protobuf"] + [d + "_cc_proto" for d in deps],
        visibility = visibility,
    )
