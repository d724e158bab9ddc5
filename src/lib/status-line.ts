// A status line redrawn in place on a terminal (\r, cut to the terminal's width, the rest of the
// line cleared), for the live views of long commands (simulate, migrate).

export interface ProgressStream {
  write(s: string): boolean;
  isTTY?: boolean;
  columns?: number;
}

export interface StatusLine {
  /** Draws `line` over the one drawn before. */
  draw(line: string): void;
  /** Ends the drawn line (a newline), if one is drawn. */
  end(): void;
}

export function createStatusLine(stream: ProgressStream): StatusLine {
  let open = false;
  return {
    draw(line) {
      const width = Math.max(20, (stream.columns || 120) - 1); // a terminal of unknown size says 0
      stream.write(`\r${line.length > width ? line.slice(0, width) : line}\x1b[K`);
      open = true;
    },
    end() {
      if (open) stream.write('\n');
      open = false;
    },
  };
}
