// The `returns-server` executable: parses the command line and runs it; everything else lives in ReturnsServerCLI.
import Foundation
import ReturnsServerCLI

exit(await ReturnsServerCLI.run(arguments: Array(CommandLine.arguments.dropFirst())))
