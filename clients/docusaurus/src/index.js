// Docusaurus plugin for the AI-textbook chatbot's reader chat.
//
//   // docusaurus.config.js
//   plugins: [["docusaurus-plugin-textbook-chat", { apiUrl: "https://chat.example.edu" }]],
//
// It adds the widget's script tag to every page (rendered in the browser only: the widget builds its
// own DOM after load, so server-side rendering never sees it) and a client module that tells the widget
// which page the reader is on after each route change. The conversation lives in localStorage, so it
// stays open across client-side navigation.

"use strict";

const path = require("path");

const DATA_OPTIONS = ["title", "placeholder", "lang", "position", "mode"];

function validateOptions({ options }) {
  const apiUrl = String((options && options.apiUrl) || "").replace(/\/+$/, "");
  if (!/^https?:\/\//.test(apiUrl)) {
    throw new Error('docusaurus-plugin-textbook-chat: set the "apiUrl" option to the chatbot service (https://...)');
  }
  return { ...options, apiUrl };
}

function scriptTag(options) {
  const attributes = { src: `${options.apiUrl}/widget.js`, "data-api": options.apiUrl, defer: true };
  for (const key of DATA_OPTIONS) {
    if (options[key] !== undefined && options[key] !== null && options[key] !== "") attributes[`data-${key}`] = String(options[key]);
  }
  return { tagName: "script", attributes };
}

function textbookChatPlugin(context, rawOptions) {
  const options = validateOptions({ options: rawOptions || {} });
  return {
    name: "docusaurus-plugin-textbook-chat",
    getClientModules() {
      return [path.resolve(__dirname, "client.js")];
    },
    injectHtmlTags() {
      return { postBodyTags: [scriptTag(options)] };
    },
  };
}

module.exports = textbookChatPlugin;
module.exports.validateOptions = validateOptions;
module.exports.scriptTag = scriptTag;
