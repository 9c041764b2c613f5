import Foundation
import Testing
import TestSupport

/// `meshcap cidr`: the service range out of a cluster dump, printed or written into cluster.env.
@Suite struct CidrTests {
    static let example = Prerequisites.research.appendingPathComponent("example-kubeadm.dump").path

    @Test(.needsResearch) func theExampleDumpAgreesInThreePlaces() throws {
        let result = try run(meshcap, ["cidr", "--from-cluster-dump", Self.example])
        #expect(result.status == 0)
        #expect(result.stdout == "10.96.0.0/12\n")
        #expect(result.stderr == """
            meshcap: service range 10.96.0.0/12, the same in all 3 places that name it:
            meshcap:   line 72, kube-system/kube-apiserver-cp-1 (container kube-apiserver)
            meshcap:   line 92, kube-system/kube-controller-manager-cp-1 (container kube-controller-manager)
            meshcap:   line 103, log of container kube-apiserver of pod kube-system/kube-apiserver-cp-1

            """)
        // The same through a pipe, as `kubectl cluster-info dump | meshcap cidr --from-cluster-dump -`.
        let piped = try run(meshcap, ["cidr", "--from-cluster-dump", "-"], input: try String(contentsOfFile: Self.example, encoding: .utf8))
        #expect(piped.stdout == "10.96.0.0/12\n" && piped.status == 0)
    }

    /// istioctl's cluster.env with the range written in: only that line changes, and the VM's
    /// files then capture the cluster's services.
    @Test(.needsCorpus, .needsResearch) func writtenIntoIstioctlsClusterEnvOnlyThatLineChanges() throws {
        let work = try temporaryDirectory("cidr")
        defer { try? FileManager.default.removeItem(at: work) }
        let vm = Prerequisites.corpus.appendingPathComponent("vm")
        let original = try String(contentsOf: vm.appendingPathComponent("cluster-ipv4.env"), encoding: .utf8)
        let env = work.appendingPathComponent("cluster.env").path
        try original.write(toFile: env, atomically: true, encoding: .utf8)
        #expect(chmod(env, 0o640) == 0)
        let result = try run(meshcap, ["cidr", "--from-cluster-dump", Self.example, "--write-env", env])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.isEmpty)
        #expect(result.stderr.hasSuffix("meshcap: \(env): ISTIO_SERVICE_CIDR='10.96.0.0/12' set on line 15\n"))
        let written = try String(contentsOfFile: env, encoding: .utf8)
        #expect(written == original.replacingOccurrences(of: "ISTIO_SERVICE_CIDR='*'", with: "ISTIO_SERVICE_CIDR='10.96.0.0/12'"))
        #expect(try FileManager.default.attributesOfItem(atPath: env)[.posixPermissions] as? Int == 0o640)
        let rules = try run(meshcap, ["compile", "--config", vm.appendingPathComponent("sidecar.env").path, "--config", env,
                                      "--passwd-file", "/dev/null", "--resolv-conf", "/dev/null"])
        #expect(rules.status == 0, "\(rules.stderr)")
        #expect(rules.stdout.contains("-A ISTIO_OUTPUT -d 10.96.0.0/12 -j ISTIO_REDIRECT"))
        #expect(!rules.stdout.contains("-A ISTIO_OUTPUT -j ISTIO_REDIRECT"))
    }

    @Test func aKopsDumpWithDualStackAndAMissingEnvFile() throws {
        let work = try temporaryDirectory("cidr")
        defer { try? FileManager.default.removeItem(at: work) }
        let dump = #"""
            {
                "metadata": {
                    "name": "kube-apiserver-i-0abc",
                    "namespace": "kube-system"
                },
                "spec": {
                    "containers": [
                        {
                            "name": "kube-apiserver",
                            "command": [
                                "/bin/sh",
                                "-c",
                                "mkfifo /tmp/pipe; (tee -a /var/log/kube-apiserver.log < /tmp/pipe & ) ; exec /usr/local/bin/kube-apiserver --service-cluster-ip-range=\"100.64.0.0/13,fd00:100:64::/108\" --v=2 > /tmp/pipe 2>&1"
                            ]
                        }
                    ]
                }
            }

            """#.replacingOccurrences(of: "\n", with: "\r\n")
        let env = work.appendingPathComponent("meshcap.env").path
        let result = try run(meshcap, ["cidr", "--from-cluster-dump", "-", "--write-env", env], input: dump)
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stderr == """
            meshcap: service range 100.64.0.0/13,fd00:100:64::/108, from line 13, kube-system/kube-apiserver-i-0abc (container kube-apiserver)
            meshcap: \(env): ISTIO_SERVICE_CIDR='100.64.0.0/13,fd00:100:64::/108' in a new file

            """)
        #expect(try String(contentsOfFile: env, encoding: .utf8) == "ISTIO_SERVICE_CIDR='100.64.0.0/13,fd00:100:64::/108'\n")
    }

    @Test func disagreeingPlacesExitOneAndLeaveTheFileAlone() throws {
        let work = try temporaryDirectory("cidr")
        defer { try? FileManager.default.removeItem(at: work) }
        let env = work.appendingPathComponent("cluster.env").path
        try "ISTIO_SERVICE_CIDR='*'\n".write(toFile: env, atomically: true, encoding: .utf8)
        let dump = """
            "--service-cluster-ip-range=10.96.0.0/12",
            "--service-cluster-ip-range=10.100.0.0/16",
            "--service-cluster-ip-range=10.96.0.0/12",
            """
        let result = try run(meshcap, ["cidr", "--from-cluster-dump", "-", "--write-env", env], input: dump)
        #expect(result.status == 1)
        #expect(result.stdout.isEmpty)
        #expect(result.stderr == """
            meshcap: standard input names 2 different service ranges; a range changed without restarting every component? Check which one kube-apiserver runs with now:
            meshcap:   10.96.0.0/12:
            meshcap:     line 1
            meshcap:     line 3
            meshcap:   10.100.0.0/16:
            meshcap:     line 2

            """)
        #expect(try String(contentsOfFile: env, encoding: .utf8) == "ISTIO_SERVICE_CIDR='*'\n")
    }

    /// A managed control plane: no flag, a hint from the kubernetes Service, the places to ask.
    @Test func noRangeSaysWhereElseToLookAndGivesTheHint() throws {
        let dump = """
            {
                "kind": "ServiceList",
                "items": [
                    {
                        "metadata": {
                            "name": "kubernetes",
                            "namespace": "default"
                        },
                        "spec": {
                            "ports": [
                                {
                                    "name": "https",
                                    "port": 443
                                }
                            ],
                            "clusterIP": "10.100.0.1"
                        }
                    }
                ]
            }
            """
        let result = try run(meshcap, ["cidr", "--from-cluster-dump", "-"], input: dump)
        #expect(result.status == 1)
        #expect(result.stdout.isEmpty)
        #expect(result.stderr.hasPrefix("meshcap: no --service-cluster-ip-range in standard input. A managed control plane (EKS, GKE, AKS)"))
        #expect(result.stderr.contains("meshcap:   aws eks describe-cluster --name CLUSTER --query cluster.kubernetesNetworkConfig.serviceIpv4Cidr\n"))
        #expect(result.stderr.contains("kubectl create service clusterip meshcap-probe --clusterip=1.1.1.1 --tcp=80 2>&1 | meshcap cidr --from-cluster-dump -"))
        #expect(result.stderr.hasSuffix("meshcap: hint: the kubernetes Service in default has ClusterIP 10.100.0.1, the first address of the range (not the range: its length is not in the dump)\n"))
        // And what that probe prints is read.
        let refusal = try run(meshcap, ["cidr", "--from-cluster-dump", "-"], input: #"error: failed to create ClusterIP service: Service "meshcap-probe" is invalid: spec.clusterIPs: Invalid value: []string{"1.1.1.1"}: failed to allocate IP 1.1.1.1: provided IP is not in the valid range. The range of valid IPs is 10.100.0.0/16\#n"#)
        #expect(refusal.status == 0 && refusal.stdout == "10.100.0.0/16\n")
    }

    /// A comment or another program's log that mentions a range is not the cluster saying it;
    /// a dump cut inside the value is named and skipped, not read as a shorter range.
    @Test func onlyTheControlPlaneSaysAndAValueCutShortIsSkipped() throws {
        let dump = """
            spec:
              containers:
              - command:
                - kube-apiserver
                # example: --service-cluster-ip-range=10.0.0.0/24
                - --service-cluster-ip-range=10.96.0.0/12
            ==== START logs for container app of pod default/app-1 ====
            I1126 09:14:02.551210       1 main.go:64] FLAG: --service-cluster-ip-range="10.1.0.0/24"
            ==== END logs for container app of pod default/app-1 ====

            """
        let result = try run(meshcap, ["cidr", "--from-cluster-dump", "-"], input: dump)
        #expect(result.status == 0 && result.stdout == "10.96.0.0/12\n", "\(result.stderr)")
        #expect(result.stderr == "meshcap: service range 10.96.0.0/12, from line 6\n")
        // `fd00::/108` cut to `fd00::/10` where the dump stops.
        let cut = try run(meshcap, ["cidr", "--from-cluster-dump", "-"], input: "    \"--service-cluster-ip-range=10.96.0.0/12,fd00::/10")
        #expect(cut.status == 1 && cut.stdout.isEmpty)
        #expect(cut.stderr == """
            meshcap: warning: line 1: --service-cluster-ip-range=10.96.0.0/12,fd00::/10 ends the input with nothing after it (no quote, comma, blank or line end): the dump may be cut short inside it; skipped
            meshcap: no usable --service-cluster-ip-range in standard input: every place that names one is skipped (above, with why)

            """, "\(cut.stderr)")
        let comma = try run(meshcap, ["cidr", "--from-cluster-dump", "-"], input: "    \"--service-cluster-ip-range=10.96.0.0/12,\n")
        #expect(comma.status == 1 && comma.stderr.hasPrefix("meshcap: warning: line 1: --service-cluster-ip-range=10.96.0.0/12, ends with a comma: the list is cut short after it; skipped\n"), "\(comma.stderr)")
    }

    /// Files cidr cannot use: refused at once with exit 2, and the env file is not touched.
    @Test func unusableDumpsAreRefusedAtOnce() throws {
        let work = try temporaryDirectory("cidr")
        defer { try? FileManager.default.removeItem(at: work) }
        let fifo = work.appendingPathComponent("fifo").path
        #expect(mkfifo(fifo, 0o600) == 0)
        let env = work.appendingPathComponent("cluster.env").path
        try "A=1\n".write(toFile: env, atomically: true, encoding: .utf8)
        let cases: [(arguments: [String], input: String?, message: String)] = [
            ([fifo], nil, "meshcap: the cluster dump \(fifo) is a FIFO, not a regular file; to read a pipe, give - and redirect it to standard input\n"),
            (["/dev/zero"], nil, "meshcap: the cluster dump /dev/zero is a character device, not a regular file\n"),
            (["-"], "{\u{0}\u{0}", "meshcap: the cluster dump on standard input has a NUL byte at byte 2: it is binary, not text\n"),
            (["/nonexistent/dump"], nil, "meshcap: cannot open the cluster dump /nonexistent/dump: No such file or directory (ENOENT)\n"),
        ]
        for (arguments, input, message) in cases {
            let started = ContinuousClock.now
            let result = try run(meshcap, ["cidr", "--from-cluster-dump"] + arguments + ["--write-env", env], input: input)
            #expect(result.status == 2, "\(arguments)")
            #expect(result.stderr == message)
            #expect(ContinuousClock.now - started < .seconds(5))
        }
        #expect(try String(contentsOfFile: env, encoding: .utf8) == "A=1\n")
    }

    /// A cluster.env edited on Windows and on the VM: the rewrite keeps each line's own end (a
    /// shell sourcing it must read the range, not the range and a CR), the missing end of the
    /// last line, the mode and the owner.
    @Test(.needsRoot) func aMixedLineEndFileKeepsEachLinesEndItsModeAndOwner() throws {
        let work = try temporaryDirectory("cidr")
        defer { try? FileManager.default.removeItem(at: work) }
        let env = work.appendingPathComponent("cluster.env").path
        try "# from a laptop\r\nCA_ADDR='istiod:15012'\r\nISTIO_SERVICE_CIDR='*'\nISTIO_INBOUND_PORTS='*'".write(toFile: env, atomically: true, encoding: .utf8)
        #expect(chmod(env, 0o640) == 0 && chown(env, 1234, 5678) == 0)
        let result = try run(meshcap, ["cidr", "--from-cluster-dump", "-", "--write-env", env], input: "FLAG: --service-cluster-ip-range=\"10.96.0.0/12\"\n")
        #expect(result.status == 0, "\(result.stderr)")
        #expect(try String(contentsOfFile: env, encoding: .utf8) == "# from a laptop\r\nCA_ADDR='istiod:15012'\r\nISTIO_SERVICE_CIDR='10.96.0.0/12'\nISTIO_INBOUND_PORTS='*'")
        var status = stat()
        #expect(stat(env, &status) == 0 && status.st_mode & 0o7777 == 0o640 && status.st_uid == 1234 && status.st_gid == 5678)
        let sourced = try run("sh", ["-c", ". \"$0\"; printf %s \"$ISTIO_SERVICE_CIDR\"", env])
        #expect(sourced.stdout == "10.96.0.0/12")
    }

    /// cluster.env behind a symbolic link (configuration management often links it) stays a link.
    @Test func aLinkedEnvFileStaysALink() throws {
        let work = try temporaryDirectory("cidr")
        defer { try? FileManager.default.removeItem(at: work) }
        let real = work.appendingPathComponent("real.env").path, link = work.appendingPathComponent("cluster.env").path
        try "# keep me\nISTIO_SERVICE_CIDR=\n".write(toFile: real, atomically: true, encoding: .utf8)
        #expect(symlink(real, link) == 0)
        let result = try run(meshcap, ["cidr", "--from-cluster-dump", "-", "--write-env", link], input: "FLAG: --service-cluster-ip-range=\"10.96.0.0/12\"")
        #expect(result.status == 0, "\(result.stderr)")
        #expect(try FileManager.default.destinationOfSymbolicLink(atPath: link) == real)
        #expect(try String(contentsOfFile: real, encoding: .utf8) == "# keep me\nISTIO_SERVICE_CIDR='10.96.0.0/12'\n")
        #expect(try FileManager.default.contentsOfDirectory(atPath: work.path).sorted() == ["cluster.env", "real.env"])
        let dash = try run(meshcap, ["cidr", "--from-cluster-dump", "-", "--write-env", "-"], input: "")
        #expect(dash.status == 2 && dash.stderr.contains("--write-env -: allowed: a file path"))
    }

    /// `mknod ./null c 1 3` then `--write-env ./null` replaced the device with a plain file. Only
    /// a regular file (or a link to one) is written: anything else is refused with exit 2, named
    /// for what it is, and left as it was.
    @Test(.needsRoot) func onlyARegularFileIsWritten() throws {
        let work = try temporaryDirectory("cidr")
        defer { try? FileManager.default.removeItem(at: work) }
        let special = try SpecialFiles(in: work)
        let listing = try FileManager.default.contentsOfDirectory(atPath: work.path).sorted()
        for (path, kind) in special.entries {
            let before = SpecialFiles.identity(path)
            let result = try run(meshcap, ["cidr", "--from-cluster-dump", "-", "--write-env", path], input: "FLAG: --service-cluster-ip-range=\"10.96.0.0/12\"\n")
            #expect(result.status == 2, "\(path): \(result.stderr)")
            #expect(result.stderr.hasPrefix("meshcap: \(path) is \(kind)"), "\(result.stderr)")
            #expect(result.stderr.hasSuffix("; meshcap writes only regular files: allowed: a regular file, a symbolic link to one, or a path where nothing exists yet; nothing was written\n"), "\(result.stderr)")
            #expect(SpecialFiles.identity(path) == before, "\(path) was replaced")
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: work.path).sorted() == listing, "a file was left behind")
    }

    /// A run killed while writing (SIGKILL cannot be held off) leaves its temporary file or
    /// backup beside the env file; the next run that writes there removes it, and leaves those
    /// of a running process and those beside other files.
    @Test func whatAKilledRunLeftIsRemovedByTheNext() throws {
        let work = try temporaryDirectory("cidr")
        defer { try? FileManager.default.removeItem(at: work) }
        let env = work.appendingPathComponent("cluster.env").path
        try "A=1\n".write(toFile: env, atomically: true, encoding: .utf8)
        let gone = try exitedProcessID()
        let stale = [".cluster.env.meshcap-\(gone)-2k8x0d1", ".cluster.env.meshcap-\(gone)-old"]
        let kept = [".cluster.env.meshcap-\(getpid())-2k8x0d1", ".other.env.meshcap-\(gone)-2k8x0d1", ".cluster.env.meshcap-x-1"]
        for name in stale + kept { try "half\n".write(to: work.appendingPathComponent(name), atomically: false, encoding: .utf8) }
        let result = try run(meshcap, ["cidr", "--from-cluster-dump", "-", "--write-env", env], input: "FLAG: --service-cluster-ip-range=\"10.96.0.0/12\"\n")
        #expect(result.status == 0, "\(result.stderr)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: work.path).sorted() == (["cluster.env"] + kept).sorted())
    }
}
