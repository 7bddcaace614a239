// The page around the widget: sample movies from the test set, and what the model is.

const classifier = document.getElementById("classifier");
const list = document.getElementById("samples");
const samplesError = document.getElementById("samples-error");
const about = document.getElementById("about");

function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  Object.assign(node, props);
  node.append(...children);
  return node;
}

async function trySample(sample, button) {
  samplesError.textContent = "";
  button.setAttribute("aria-busy", "true");
  try {
    const response = await fetch(new URL(sample.poster, document.baseURI));
    if (!response.ok) throw new Error(`the sample poster ${sample.poster} answered HTTP ${response.status}`);
    const blob = await response.blob();
    classifier.setPoster(new File([blob], sample.poster.split("/").pop(), { type: blob.type || "image/jpeg" }));
    classifier.setPlot(sample.plot);
    classifier.setDetails({ title: sample.title, year: sample.year });
    await classifier.classify();
  } catch (error) {
    samplesError.textContent = `Could not classify "${sample.title}": ${error.message ?? error}`;
  } finally {
    button.removeAttribute("aria-busy");
  }
}

async function showSamples() {
  try {
    const response = await fetch("samples/samples.json");
    if (!response.ok) throw new Error(`samples/samples.json answered HTTP ${response.status}`);
    const samples = await response.json();
    for (const sample of samples) {
      const button = el(
        "button",
        { type: "button", className: "sample", title: `Classify "${sample.title}"` },
        el("img", { src: sample.poster, alt: "", width: 72, height: 107 }),
        el("span", { className: "title" }, `${sample.title}${sample.year ? ` (${sample.year})` : ""}`),
        el("span", { className: "truth" }, sample.genres.join(", ")),
      );
      button.dataset.id = sample.id;
      button.addEventListener("click", () => trySample(sample, button));
      list.append(el("li", {}, button));
    }
  } catch (error) {
    samplesError.textContent = `The sample movies could not be loaded: ${error.message ?? error}`;
  }
}

classifier.addEventListener("ready", (event) => {
  const model = event.detail;
  const info = model.info ?? {};
  const test = info.test ?? {};
  const parts = [`"${model.name}" tells ${model.genres.length} genres.`];
  if (test.micro_f1 !== undefined)
    parts.push(
      `On ${test.movies} held-out test movies: micro-F1 ${test.micro_f1.toFixed(3)}, macro-F1 ${test.macro_f1.toFixed(3)}.`,
    );
  if (info.commit) parts.push(`Trained at commit ${String(info.commit).slice(0, 10)}.`);
  about.textContent = parts.join(" ");
});

showSamples();
