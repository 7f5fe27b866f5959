/** Whether a command prints JSON lines: when asked to, and whenever stdout is a program rather than a terminal. */
export function isMachineReadable(json: boolean | undefined): boolean {
  return json === true || process.stdout.isTTY !== true;
}

/** A command's log: `log` events among its JSON lines, or plain lines on stderr for a person. */
export function commandLog(machineReadable: boolean): (level: 'info' | 'warn', message: string) => void {
  return (level, message) => {
    if (machineReadable) {
      process.stdout.write(`${JSON.stringify({ event: 'log', level, message })}\n`);
    } else {
      process.stderr.write(`${level === 'warn' ? 'warning: ' : ''}${message}\n`);
    }
  };
}
