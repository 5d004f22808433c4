// Turns the microphone into PCM16 mono blocks of 20 ms at the context's own rate (posted as ArrayBuffers);
// the server resamples to 24 kHz (Firefox cannot capture into a 24 kHz context).
class Capture extends AudioWorkletProcessor {
  constructor() {
    super();
    this.size = Math.round(sampleRate / 50);
    this.block = new Int16Array(this.size);
    this.filled = 0;
  }

  process(inputs) {
    const channel = inputs[0] && inputs[0][0];
    if (!channel) return true;
    for (let k = 0; k < channel.length; k++) {
      const s = Math.max(-1, Math.min(1, channel[k]));
      this.block[this.filled++] = s < 0 ? s * 32768 : s * 32767;
      if (this.filled === this.size) {
        this.port.postMessage(this.block.buffer, [this.block.buffer]); // transferred: the old block is gone
        this.block = new Int16Array(this.size);
        this.filled = 0;
      }
    }
    return true;
  }
}
registerProcessor("capture", Capture);
