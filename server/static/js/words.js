// Generated pseudonyms: a gentle adjective and a noun from the word lists in /words/.

let lists = null;

async function load(name) {
  const response = await fetch(`/words/${name}.txt`);
  return (await response.text()).split("\n").map((w) => w.trim()).filter(Boolean);
}

function pick(words) {
  const [n] = crypto.getRandomValues(new Uint32Array(1));
  return words[n % words.length];
}

export async function suggestPseudonym() {
  try {
    lists ??= await Promise.all([load("adjectives"), load("nouns")]);
    const [adjectives, nouns] = lists;
    let name;
    do name = `${pick(adjectives)} ${pick(nouns)}`;
    while (name.split(" ")[0] === name.split(" ")[1]);
    return name;
  } catch {
    return "Quiet Friend";
  }
}
