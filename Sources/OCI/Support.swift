/// The config.json fields apus refuses on Linux, and why: one table that validation reports
/// (each by its JSON path, so `create` and `validate` refuse it before anything is made) and
/// that docs/spec-audit.md lists (a unit test keeps the two in step). Every other field of
/// config.md and config-linux.md takes effect; the audit says where and which test sees it.
public struct RefusedField: Sendable {
    public let path: String
    public let reason: String
    let isSet: @Sendable (Spec) -> Bool
}

public let refusedFields: [RefusedField] = [
    RefusedField(
        path: ".process.commandLine",
        reason: "Windows only (config.md); on Linux the command is process.args",
        isSet: { $0.process?.commandLine != nil }),
    RefusedField(
        path: ".process.user.username",
        reason: "Windows only (config.md); on Linux the user is process.user.uid and gid",
        isSet: { $0.process?.user.username != nil }),
]
