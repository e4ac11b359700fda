// Answer sets for the AIA and the scores the official tool gives them: see README.md.
// Run here: npm install && npm run scores (survey-vue 1.7.23, the version in the tool's package-lock.json).
"use strict";
const fs = require("fs");
const path = require("path");
const Survey = require("survey-vue");
const official = require("./official");

const SURVEY = JSON.parse(fs.readFileSync(path.join(__dirname, "survey-enfr.json"), "utf8"));

// A small seeded generator (mulberry32), so the file is the same on every run.
function rng(seed) {
  return function () {
    seed |= 0;
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function model(data) {
  const survey = new Survey.Model(SURVEY);
  survey.data = JSON.parse(JSON.stringify(data));
  return survey;
}

// What the tool shows: the live score bar while answering (every answer in the data), and
// the results page after "Complete" (SurveyJS clears hidden questions' answers first).
function scoresOf(data) {
  const live = model(data);
  const liveScore = official.calculateFinalScore(live, official.scoredQuestionNames(live));
  const done = model(data);
  done.doComplete();
  const doneScore = official.calculateFinalScore(done, official.scoredQuestionNames(done));
  const hidden = done
    .getAllQuestions()
    .filter(q => q.getType() !== "html" && !isShown(done, q))
    .map(q => q.name);
  return { live: liveScore, completed: doneScore, hidden };
}

function isShown(survey, question) {
  return question.isVisible && question.page.isVisible;
}

// A person answering page by page: each shown question answered with probability `rate`.
// With `keen`, a mitigation question gets its best answer three times in four.
function answerRandomly(survey, random, rate, phase, keen = false) {
  survey.setValue("projectDetailsPhase", phase);
  survey.getAllQuestions().forEach(question => {
    if (question.name === "projectDetailsPhase" || !isShown(survey, question)) return;
    if (random() > rate) return;
    const type = question.getType();
    const choices = question.choices ? question.choices.map(c => c.value) : [];
    const mitigation = official.hasScore(question) && official.getScoreType(question) === 3;
    if (keen && mitigation && random() < 0.75) {
      const best = choices.reduce((a, b) => (official.getValue(b) > official.getValue(a) ? b : a));
      survey.setValue(question.name, type === "checkbox" ? choices : best);
    } else if (type === "radiogroup" || type === "dropdown") {
      survey.setValue(question.name, choices[Math.floor(random() * choices.length)]);
    } else if (type === "checkbox") {
      const picked = choices.filter(() => random() < 0.4);
      if (picked.length) survey.setValue(question.name, picked);
    } else if (type === "text" || type === "comment") {
      if (random() < 0.3) survey.setValue(question.name, "Answer " + question.name);
    }
  });
}

// Aim answers at a raw impact and a mitigation score: answer the phase's shown choice
// questions, page by page, with the largest weights that still fit. The official code then
// says what the answers score; the aim only picks them.
function aimed(rawTarget, mitigationTarget, phase) {
  const survey = model({ projectDetailsPhase: phase });
  const left = { 2: rawTarget, 3: mitigationTarget };
  survey.getAllQuestions().forEach(question => {
    const type = official.hasScore(question) ? official.getScoreType(question) : 1;
    if (type === 1 || !isShown(survey, question)) return;
    const weights = question.choices.map(c => [c.value, official.getValue(c.value)]);
    weights.sort((a, b) => b[1] - a[1]);
    if (question.getType() === "checkbox") {
      const picked = [];
      weights.forEach(([value, w]) => {
        if (w > 0 && w <= left[type]) {
          picked.push(value);
          left[type] -= w;
        }
      });
      if (picked.length) survey.setValue(question.name, picked);
      return;
    }
    const best = weights.find(([, w]) => w <= left[type]);
    if (best) {
      survey.setValue(question.name, best[0]);
      left[type] -= best[1];
    }
  });
  return survey.data;
}

const cases = [];
function add(name, data, expect) {
  const scores = scoresOf(data);
  if (expect) {
    const got = JSON.stringify(scores.completed);
    if (got !== JSON.stringify(expect)) throw new Error(`${name}: ${got}, not ${JSON.stringify(expect)}`);
  }
  cases.push({ name, data, ...scores });
}

// The tool's own unit test (tests/unit/store.spec.ts): raw 3, mitigation 0, total 3, level 1.
add(
  "official unit test: store.spec.ts calcScore",
  {
    projectDetailsRespondent: "name",
    projectDetailsJob: "position",
    "projectDetailsDepartment-NS": "item061",
    projectDetailsBranch: "test",
    projectDetailsTitle: "project",
    projectDetailsPhase: "item1",
    projectDetailsDescription: "desc",
    decisionSector1: ["item1-1", "item2-1", "item3-1"],
  },
  [3, 0, 3, 1]
);
// Boundaries (issue 14): 0.85 x 49 = 41.65 -> 42, level II; 0.85 x 90 = 76.5 -> 77;
// mitigation 62 of 154 is 80.5% of half the maximum (61.6 needed), 61 is not.
add("raw 49, mitigation 62 (design)", aimed(49, 62, "item1"), [49, 62, 42, 2]);
add("raw 49, mitigation 62 (implementation)", aimed(49, 62, "item2"), [49, 62, 42, 2]);
add("raw 49, mitigation 61", aimed(49, 61, "item1"), [49, 61, 49, 2]);
add("raw 90, mitigation 62", aimed(90, 62, "item2"), [90, 62, 77, 2]);
add("raw 41, no mitigation: level I", aimed(41, 0, "item1"), [41, 0, 41, 1]);
add("raw 42, no mitigation: level II", aimed(42, 0, "item1"), [42, 0, 42, 2]);
add("raw 83, no mitigation: level II", aimed(83, 0, "item1"), [83, 0, 83, 2]);
add("raw 84, no mitigation: level III", aimed(84, 0, "item1"), [84, 0, 84, 3]);
add("raw 98, mitigation 62: 83.3 -> 83, level II", aimed(98, 62, "item1"), [98, 62, 83, 2]);
add("raw 99, mitigation 62: 84.15 -> 84, level III", aimed(99, 62, "item1"), [99, 62, 84, 3]);
add("raw 125, no mitigation: level III", aimed(125, 0, "item2"), [125, 0, 125, 3]);
add("raw 126, no mitigation: level IV", aimed(126, 0, "item2"), [126, 0, 126, 4]);
add("raw 147, mitigation 77: 124.95 -> 125, level III", aimed(147, 77, "item2"), [147, 77, 125, 3]);
add("raw 148, mitigation 77: 125.8 -> 126, level IV", aimed(148, 77, "item2"), [148, 77, 126, 4]);
add("nothing answered", {}, [0, 0, 0, 1]);

// People answering at random, in one phase.
const random = rng(20261205);
for (let i = 0; i < 60; i++) {
  const survey = model({});
  const phase = i % 2 ? "item2" : "item1";
  answerRandomly(survey, random, [0.5, 0.8, 1][i % 3], phase);
  add(`random ${i + 1} (${phase === "item1" ? "design" : "implementation"})`, survey.data);
}
// Careful people, whose mitigation often reaches the 15% reduction.
for (let i = 0; i < 20; i++) {
  const survey = model({});
  const phase = i % 2 ? "item2" : "item1";
  answerRandomly(survey, random, 0.9, phase, true);
  add(`keen ${i + 1} (${phase === "item1" ? "design" : "implementation"})`, survey.data);
}
// People who changed their minds: both phases answered, then answers that hide others
// changed. The live score counts the stale answers; the completed results do not.
for (let i = 0; i < 20; i++) {
  const survey = model({});
  answerRandomly(survey, random, 0.9, "item1");
  answerRandomly(survey, random, 0.9, "item2");
  answerRandomly(survey, random, 0.5, i % 2 ? "item1" : "item2");
  add(`changed mind ${i + 1}`, survey.data);
}

// The maxima, as the tool sums them: over every scored question, shown or not.
const whole = model({});
const maxima = { raw_impact: 0, mitigation: 0 };
official.scoredQuestionNames(whole).forEach(name => {
  const question = whole.getQuestionByName(name);
  const most = official.getMaxScoreForQuestion(question);
  if (official.getScoreType(question) === 2) maxima.raw_impact += most;
  else maxima.mitigation += most;
});

const out = {
  about:
    "Answer sets for Canada's AIA and the scores its official tool gives them, computed by " +
    "the tool's calculateFinalScore (src/store.ts) over SurveyJS 1.7.23: [raw impact, " +
    "mitigation, current score, impact level]. 'live' is the score bar while answering; " +
    "'completed' the results page, after SurveyJS clears the answers of hidden questions; " +
    "'hidden' the questions not shown then.",
  surveyjs: Survey.Version,
  maxima,
  cases,
};
// One case a line, so a change reads as a diff of cases.
const lines = out.cases.map(c => "  " + JSON.stringify(c));
fs.writeFileSync(
  path.join(__dirname, "official-scores.json"),
  `{"about": ${JSON.stringify(out.about)},\n "surveyjs": "${out.surveyjs}",\n` +
    ` "maxima": ${JSON.stringify(out.maxima)},\n "cases": [\n` +
    lines.join(",\n") +
    "\n]}\n"
);
console.log(`${cases.length} cases written`);
