// The shipped Spanish crisis phrase list (server/static/js/crisischeck.js reads it for a page in
// Spanish): the syntax and rules of thumb are those at the top of crisisphrases.js. Accents are
// dropped from text and phrases alike, so "suicidarme", "quitarme la vida" and "mas" match
// whether or not they were typed with them. safety.crisis_phrases_by_locale.es replaces it.
export const CRISIS_PHRASES_ES = String.raw`# Frases que hacen que la página ofrezca apoyo en crisis antes de enviar un mensaje.
# Bare words with everyday meanings (matar, morir, cortar, colgar) are tied to the self or to
# intent: "mi madre me va a matar", "me corto el pelo" and "me muero de risa" must not trigger.

# suicidio
suicid*
quiero|voy|pienso|deseo|deberia|necesito|ganas .. matarme
me voy|quiero|pienso|deberia .. matar
me quitare la vida
quitarme|quitar* .. mi propia vida
quitarme la vida
acabar*|terminar*|terminar* con mi vida
acabar* con todo de una vez
quiero|quisiera|deseo|ganas .. morir|morirme
quiero|quisiera|deseo .. estar muerto|muerta
me quiero morir
me gustaria morir*
desearia|ojala .. estar|estuviera muerto|muerta
ojala me muera|muriera
ojala no hubiera nacido
no debi|deberia haber nacido
mejor muerto|muerta
estarian|estaria|estan|estarias|estaran mejor sin mi
no|nunca .. quiero vivir
no|nunca .. quiero seguir viviendo
no|nunca .. quiero existir
no|nunca .. quiero estar aqui
no|nunca .. quiero despertar*
no|nunca .. volver a despertar
no tengo .. razon*|motivo* para vivir
no hay razon para vivir
nada por lo que vivir
no tiene sentido vivir
no vale la pena vivir
cansado|cansada|harto|harta de vivir
cansado|cansada|harto|harta de estar vivo|viva
no puedo seguir adelante|viviendo|asi
no me puedo mantener a salvo
desaparecer para siempre
ahorcarme
me voy a ahorcar
pegarme un tiro
dispararme
envenenarme
tirarme|lanzarme|aventarme|arrojarme .. puente|edificio|tren|balcon|azotea|ventana|vias|metro|acantilado
cortarme las venas
cort* las|mis venas|munecas
cortarme .. venas|munecas|muneca

# autolesiones
autolesion*
auto lesion*
lastimarme
hacerme dano
me hago dano
me he hecho dano a proposito
me corto los|las .. brazos|munecas|piernas|muslos|venas|piel
me he vuelto a cortar
volvi a cortarme
me volvi a cortar
ganas de cortarme|lastimarme|quemarme
quemarme a proposito
me quemo a proposito
matarme de hambre

# sobredosis
sobredosis
tomar*|tome|trag*|beber* .. todas las pastillas|pildoras|medicinas|medicamentos
todo el frasco|bote|blister|paquete de pastillas|pildoras|paracetamol
juntar|guardar|acumular .. pastillas|pildoras|medicamentos
`;
