import Testing

@testable import ApusLinux

/// tmpcopyup configures its tmpfs with fsconfig, one parameter at a time: `mounts[].options`
/// data must split into the parameters mount(2) would have passed to tmpfs.
struct TmpfsParameterTests {
    @Test(
        "tmpfs data splits into fsconfig parameters as mm/shmem.c splits mount(2) data",
        arguments: [
            (["size=1m", "mode=755"], ["size=1m", "mode=755"]),
            (["size=1m,mode=1777"], ["size=1m", "mode=1777"]),
            // A comma before a digit continues an mpol node list.
            (["mpol=bind:0,2", "huge=always"], ["mpol=bind:0,2", "huge=always"]),
            (["noswap", "uid=0,,gid=0"], ["noswap", "uid=0", "gid=0"]),
            (["context=system_u:object_r:container_file_t:s0"], ["context=system_u:object_r:container_file_t:s0"]),
        ])
    func split(data: [String], parameters: [String]) {
        let split = Rootfs.tmpfsParameters(data).map { p in p.value.map { "\(p.key)=\($0)" } ?? p.key }
        #expect(split == parameters)
    }
}
