/*
 * Search from file:// without a server or the network.
 *
 * Browsers refuse to start a Web Worker from a file:// page, and Material's search
 * runs in one.  Material's offline plugin fixes that with a shim it loads from the
 * internet; this file is coroloop's own replacement (its name tells the plugin that
 * one is present).  Under file:// only, `Worker` becomes a stand-in that runs the
 * worker's script in a hidden iframe, talking to it over a MessageChannel:
 *
 *   page  --port1-->  port2 --> a "message" event on the iframe's window (the script
 *                               listens with the global addEventListener)
 *   page  <--port1--  port2 <-- the iframe's global postMessage(data), redefined
 *
 * A srcdoc iframe has its parent's origin, so the page can hand it the port directly.
 * Served over http(s), nothing changes.
 */
(function () {
  "use strict";
  if (location.protocol !== "file:") return;

  // Runs in the iframe before the worker's script: the worker's globals.
  const FRAME_PRELUDE =
    "<script>" +
    "var workerPort = null;" +
    "window.connectWorkerPort = function (port) {" +
    "  workerPort = port;" +
    "  port.onmessage = function (event) {" +
    "    window.dispatchEvent(new MessageEvent('message', { data: event.data })); }; };" +
    "window.postMessage = function (data) { workerPort.postMessage(data); };" +
    "window.importScripts = function () {};" +
    "<\/script>";
  // Runs in the iframe after the worker's script (scripts run in order): the script's
  // message listener exists now, so the page may connect and send what it queued.
  const FRAME_EPILOGUE = "<script>frameElement.workerScriptRan();<\/script>";

  class FrameWorker extends EventTarget {
    constructor(url) {
      super();
      this.onmessage = null;
      this._pending = [];      // messages posted before the worker's script ran
      this._port = null;       // the page's end of the channel, once connected
      const script = new URL(url, location.href).href;
      this._frame = document.createElement("iframe");
      this._frame.style.display = "none";
      this._frame.workerScriptRan = () => this._connect();
      this._frame.srcdoc =
        FRAME_PRELUDE + "<script src=\"" + script + "\"><\/script>" + FRAME_EPILOGUE;
      (document.body || document.documentElement).appendChild(this._frame);
    }

    _connect() {
      const channel = new MessageChannel();
      this._frame.contentWindow.connectWorkerPort(channel.port2);
      this._port = channel.port1;
      this._port.onmessage = (event) => {
        const message = new MessageEvent("message", { data: event.data });
        if (typeof this.onmessage === "function") this.onmessage(message);
        this.dispatchEvent(message);
      };
      this._pending.forEach((data) => this._port.postMessage(data));
      this._pending = [];
    }

    postMessage(data) {
      if (this._port === null) this._pending.push(data);
      else this._port.postMessage(data);
    }

    terminate() {
      this._frame.remove();
    }
  }

  window.Worker = FrameWorker;
})();
