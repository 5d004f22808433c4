// Plays PCM16 mono frames (posted as ArrayBuffers) in a 24 kHz AudioContext and counts the samples it actually
// plays: "position" about every 20 ms while playing, "cleared" with the exact count when told to stop ("clear").
class Player extends AudioWorkletProcessor {
  constructor() {
    super();
    this.queue = [];
    this.offset = 0;
    this.played = 0;
    this.unreported = 0;
    this.port.onmessage = (event) => {
      if (event.data === "clear") {
        this.queue = [];
        this.offset = 0;
        this.port.postMessage({ type: "cleared", played: this.played });
      } else {
        this.queue.push(new Int16Array(event.data));
      }
    };
  }

  process(inputs, outputs) {
    const out = outputs[0][0];
    let i = 0;
    while (i < out.length && this.queue.length > 0) {
      const head = this.queue[0];
      const n = Math.min(out.length - i, head.length - this.offset);
      for (let k = 0; k < n; k++) out[i + k] = head[this.offset + k] / 32768;
      i += n;
      this.offset += n;
      if (this.offset >= head.length) {
        this.queue.shift();
        this.offset = 0;
      }
    }
    out.fill(0, i);
    if (i > 0) {
      this.played += i;
      this.unreported += i;
      const idle = this.queue.length === 0;
      if (this.unreported >= 480 || idle) {
        this.unreported = 0;
        this.port.postMessage({ type: "position", played: this.played, idle });
      }
    }
    return true;
  }
}
registerProcessor("player", Player);
