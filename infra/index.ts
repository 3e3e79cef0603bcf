/** Entry point for `pulumi up`: the program's return value becomes the stack outputs. */
import { devboxProgram } from "./program";

export = devboxProgram();
