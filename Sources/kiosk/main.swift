// The `kiosk` executable: parses the command line and runs it; everything else lives in KioskCLI.
import Foundation
import KioskCLI

exit(await KioskCLI.run(arguments: Array(CommandLine.arguments.dropFirst())))
