import ApusLinux

/// What `apus --version` and `features` report.
public enum Version {
    public static let apus = "0.1.0"
    public static let spec = "1.3.0"

    /// The version of the libseccomp linked in, "major.minor.micro".
    public static var libseccomp: String? { libseccompVersion }

    public static var text: String {
        var out = "apus version \(apus)\nspec: \(spec)\n"
        if let seccomp = libseccomp { out += "libseccomp: \(seccomp)\n" }
        return out
    }
}
