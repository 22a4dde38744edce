/** Hand-built MergedDocuments mirroring the seeds, shared by test/render.test.ts and its child process. */
import type { Block, MergedDocument, Run } from '../src/document/model.ts';

const t = (text: string, extra: { bold?: boolean; italic?: boolean; link?: string } = {}): Run => ({ type: 'text', text, ...extra });
const p = (...runs: Run[]): Block => ({ type: 'paragraph', runs });

/** Seed 004 (CU 2009/92 (A)) merged for France. */
export function franceNote(): MergedDocument {
  return {
    kind: 'note-verbale',
    language: 'fr',
    templateId: 'cu-2009-92',
    templateVersion: 1,
    title: 'CU 2009/92 (A)',
    subject: 'Traite des personnes: sujets de discussion pour la deuxième réunion intersessions',
    footnotes: [],
    blocks: [
      p(t('Référence: CU 2009/92 (A)')),
      p(
        t("Le Secrétaire général de l'Organisation des Nations Unies présente ses compliments au Représentant permanent de la France auprès de l'Organisation des Nations Unies (Vienne) et a l'honneur d'appeler l'attention du Gouvernement sur la décision 4/4 de la Conférence des Parties à la Convention des Nations Unies contre la criminalité transnationale organisée, intitulée \"Traite des êtres humains\"."),
      ),
      p(
        t("Dans sa décision 4/4, la Conférence a décidé de créer un groupe de travail provisoire à composition non limitée pour la conseiller et l'aider à s'acquitter de son mandat en ce qui concerne le Protocole visant à prévenir, réprimer et punir la traite des personnes, en particulier des femmes et des enfants, additionnel à la Convention des Nations Unies contre la criminalité transnationale organisée."),
      ),
      p(t('Elle a également décidé que le groupe de travail remplirait les fonctions suivantes:')),
      {
        type: 'list',
        style: 'roman',
        items: [
          { label: 'i)', runs: [t("Faciliter l'application du Protocole relatif à la traite des personnes par l'échange d'expériences et de pratiques entre experts et praticiens de ce domaine, y compris en contribuant à recenser les faiblesses, les lacunes et les difficultés;")] },
          { label: 'ii)', runs: [t('Faire des recommandations à la Conférence sur les moyens qui permettraient aux États parties de mieux appliquer les dispositions du Protocole relatif à la traite des personnes;')] },
          { label: 'iii)', runs: [t("Aider la Conférence à donner des orientations à son secrétariat en ce qui concerne ses activités ayant trait à l'application du Protocole relatif à la traite des personnes;")] },
          { label: 'iv)', runs: [t("Faire des recommandations à la Conférence sur les moyens qui lui permettraient de mieux coordonner son action avec celle des différents organismes internationaux qui luttent contre la traite des personnes en ce qui concerne l'application, l'appui et la promotion du Protocole relatif à la traite des personnes.")] },
        ],
      },
      p(
        t("La Conférence a en outre décidé que le groupe de travail se réunirait durant sa cinquième session et tiendrait au moins une réunion intersessions auparavant. Une première réunion intersessions s'est tenue à Vienne (Autriche) les 14 et 15 avril 2009. Le rapport de cette réunion est disponible dans toutes les langues officielles de l'ONU à l'adresse suivante: "),
        t('http://www.unodc.org/unodc/fr/treaties/CTOC/working-group-on-trafficking-in-persons-protocol.html', { link: 'http://www.unodc.org/unodc/fr/treaties/CTOC/working-group-on-trafficking-in-persons-protocol.html' }),
      ),
      {
        type: 'addressee',
        lines: [
          "Mission permanente de la France auprès de l'Organisation des Nations Unies (Vienne)",
          'Schwarzenbergplatz 16',
          '1010 Vienne',
          'Autriche',
        ],
      },
      p(
        t("À sa première réunion, le Groupe de travail est convenu que, sous réserve de la disponibilité de ressources et de l'intérêt des États, il pourrait utilement tenir une autre réunion intersessions avant la cinquième session de la Conférence des Parties."),
      ),
      p(
        t("Le Bureau de la Conférence, qui s'est réuni le 16 avril 2009, a jugé lui aussi qu'il serait utile de convoquer une deuxième réunion intersessions et a décidé que celle-ci se focaliserait sur quelques questions précises afin de permettre un échange fructueux de vues et d'expériences entre experts et praticiens de la lutte contre la traite des personnes. Il a demandé au Secrétariat de consulter les États Membres sur les points ayant trait à l'application du Protocole qui les intéressaient plus particulièrement."),
      ),
      p(
        t('Le Gouvernement est donc informé que le Groupe de travail provisoire à composition non limitée sur le Protocole relatif à la traite des personnes tiendra une deuxième réunion à Vienne (Autriche) du 27 au 29 janvier 2010.', { bold: true }),
      ),
      p(
        t('En outre, '),
        t('le Gouvernement est cordialement invité à proposer des sujets de discussion pour cette deuxième réunion.', { bold: true }),
        t(" Le Bureau examinera les propositions des États Membres et sélectionnera trois sujets qu'il inscrira à l'ordre du jour provisoire de la réunion."),
      ),
      p(
        t("Parmi les domaines d'intérêt qui sont ressortis de la première réunion du Groupe de travail et que le Gouvernement pourrait souhaiter mentionner dans ses propositions figurent les suivants:"),
      ),
      {
        type: 'list',
        style: 'alpha',
        items: [
          ['a)', 'La législation nationale de lutte contre la traite des personnes: les principes applicables du droit islamique;'],
          ['b)', 'La définition des concepts clefs du Protocole relatif à la traite des personnes;'],
          ['c)', "Les bonnes pratiques qui permettent de décourager la demande relevant de services d'exploitation;"],
          ['d)', "La non-sanction et la non-poursuite des personnes victimes de la traite qui ont commis des infractions alors qu'elles faisaient l'objet de la traite;"],
          ['e)', "Les stratégies nationales d'indemnisation des victimes de la traite des personnes;"],
          ['f)', 'Les bonnes pratiques et les outils à la disposition des agents de détection et de répression de première ligne pour lutter contre la traite des personnes;'],
          ['g)', "L'évaluation des risques dans les enquêtes sur la traite des êtres humains;"],
          ['h)', 'La gestion des affaires dans les enquêtes et poursuites concernant la traite des êtres humains.'],
        ].map(([label, text]) => ({ label: label!, runs: [t(text!)] })),
      },
      p(
        t('Il serait souhaitable que la réponse du Gouvernement, avec des propositions de sujets, soit envoyée '),
        t("d'ici au 31 juillet 2009", { bold: true }),
        t(' au secrétariat de la Conférence des Parties, Office des Nations Unies contre la drogue et le crime, B.P. 500, 1400 Vienne (Autriche), télécopie: +43-1 26060 75752, courriel: '),
        t('untoc.cop@unodc.org', { link: 'mailto:untoc.cop@unodc.org' }),
        t('.'),
      ),
      p(t('Le 8 juillet 2009')),
    ],
  };
}

/** Names outside WinAnsi, in every face. */
export function namesNote(): MergedDocument {
  return {
    kind: 'note-verbale',
    language: 'fr',
    templateId: 'names',
    templateVersion: 1,
    title: 'Noms',
    subject: 'Noms',
    footnotes: [{ mark: '*', runs: [t('Note de bas de page avec Москва.')] }],
    blocks: [
      p(t('Villes: Łódź, '), t('Hà Nội', { bold: true }), t(', '), t('Москва', { italic: true }), t(' et '), t('Žilina', { bold: true, italic: true }), { type: 'footnote-ref', mark: '*' }, t('.')),
      { type: 'addressee', lines: ['Ambassade', 'ul. Piotrkowska 1', '90-001 Łódź', 'Pologne'] },
      p(t('Le 8 juillet 2009')),
    ],
  };
}

/** A UN document mirroring seed 001: header, agenda list, numbered paragraphs, footnotes, three-column table. */
export function agendaDocument(): MergedDocument {
  const it = (text: string): Run => t(text, { italic: true });
  return {
    kind: 'un-document',
    language: 'fr',
    templateId: 'ctoc-wg4-2009-1',
    templateVersion: 1,
    title: 'CTOC/COP/WG.4/2009/1',
    subject: 'Ordre du jour provisoire et annotations',
    header: {
      body: 'Conférence des Parties à la Convention des Nations Unies contre la criminalité transnationale organisée',
      distribution: 'Distr. générale',
      date: '5 mars 2009',
      language: 'Français',
      original: 'Original: anglais',
      symbol: 'CTOC/COP/WG.4/2009/1',
      session: ['Groupe de travail sur la traite des personnes', 'Vienne, 14 et 15 avril 2009'],
    },
    footnotes: [
      { mark: '*', runs: [t("Le présent document n'a pas été revu par les services d'édition.")] },
      { mark: '¹', runs: [t('CTOC/COP/WG.4/2011/8, par. 46 à 51.')] },
    ],
    blocks: [
      { type: 'heading', level: 1, runs: [t('Ordre du jour provisoire et annotations'), { type: 'footnote-ref', mark: '*' }] },
      { type: 'heading', level: 2, runs: [t('Ordre du jour provisoire')] },
      {
        type: 'list',
        style: 'decimal',
        items: [
          {
            label: '1.',
            runs: [t("Questions d'organisation:")],
            children: {
              type: 'list',
              style: 'alpha',
              items: [
                { label: 'a)', runs: [t('Ouverture de la réunion;')] },
                { label: 'b)', runs: [t("Adoption de l'ordre du jour et organisation des travaux.")] },
              ],
            },
          },
          { label: '2.', runs: [t("Examen des moyens de faciliter et d'améliorer l'application du Protocole visant à prévenir, réprimer et punir la traite des personnes, en particulier des femmes et des enfants, additionnel à la Convention des Nations Unies contre la criminalité transnationale organisée.")] },
          { label: '3.', runs: [t("Examen des moyens d'améliorer la coordination avec les organismes et les entités concernés qui luttent contre la traite des personnes.")] },
          { label: '4.', runs: [t('Adoption du rapport du Groupe de travail sur les travaux de sa réunion.')] },
        ],
      },
      { type: 'heading', level: 2, runs: [t('Annotations')] },
      {
        type: 'paragraph',
        number: '1.',
        runs: [t("Dans sa décision 4/4, la Conférence des Parties à la Convention des Nations Unies contre la criminalité transnationale organisée a reconnu que le Protocole visant à prévenir, réprimer et punir la traite des personnes, en particulier des femmes et des enfants, additionnel à la Convention, était le principal instrument global juridiquement contraignant dont on disposait pour combattre la traite des personnes.")],
      },
      {
        type: 'paragraph',
        number: '2.',
        runs: [t('Dans sa résolution 6/1, la Conférence a décidé que ses futurs domaines de travail devraient tenir compte des recommandations qui figurent dans le rapport de la précédente réunion du Groupe de travail'), { type: 'footnote-ref', mark: '¹' }, t('.')],
      },
      { type: 'heading', level: 1, runs: [t('Annexe')] },
      { type: 'heading', level: 2, runs: [t("Proposition d'organisation des travaux")] },
      {
        type: 'table',
        widths: [2, 1.4, 5],
        header: [[it('Date et heure')], [it("Point de l'ordre du jour")], [it('Intitulé ou description')]],
        rows: [
          [[t('Mardi 14 avril')], [], []],
          [[t('10 heures-13 heures')], [t('1 a)')], [t('Ouverture de la réunion')]],
          [[], [t('1 b)')], [t("Adoption de l'ordre du jour et organisation des travaux")]],
          [[], [t('2')], [t("Examen des moyens de faciliter et d'améliorer l'application du Protocole visant à prévenir, réprimer et punir la traite des personnes, en particulier des femmes et des enfants")]],
          [[t('15 heures-18 heures')], [t('2')], [t("Examen des moyens de faciliter et d'améliorer l'application du Protocole visant à prévenir, réprimer et punir la traite des personnes, en particulier des femmes et des enfants ("), it('suite'), t(')')]],
          [[t('Mercredi 15 avril')], [], []],
          [[t('10 heures-13 heures')], [t('3')], [t("Examen des moyens d'améliorer la coordination avec les organismes et les entités concernés qui luttent contre la traite des personnes")]],
          [[t('15 heures-18 heures')], [t('3')], [t("Examen des moyens d'améliorer la coordination avec les organismes et les entités concernés qui luttent contre la traite des personnes ("), it('suite'), t(')')]],
          [[], [t('4')], [t('Adoption du rapport')]],
        ],
      },
    ],
  };
}
